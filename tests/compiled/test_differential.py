"""Compiled subscription execution gives what graphql-core gives, byte for byte.

Each case runs the same events through gqlwire's per-event path on graphql-core's own
executor (the reference) and through ``gqlwire.compiled``, and compares the JSON a
client would receive (``format_result``: data, errors with their messages, locations,
paths and extensions) and how many times every resolver, ``resolve_type``,
``is_type_of`` and custom ``serialize`` ran. The property test generates schemas,
documents and events (``strategies.py``); the examples below show each kind of case
on its own.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from typing import Any

from graphql import GraphQLError, GraphQLSchema, build_schema, parse
from hypothesis import HealthCheck, given, settings

from gqlwire.compiled import CompiledSubscription, compile_subscription

from .harness import assert_identical, compare
from .strategies import Case, cases, fragile_serialize, lookup, shout_serialize

EXAMPLES = max(10, int(os.environ.get("GQLWIRE_TEST_EXAMPLES", "200")) // 4)
"""Generated subscriptions: a quarter of the protocol machines' count (each case builds
a schema and runs two executors), so fewer again in the matrix's other cells."""


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(cases())
def test_generated_subscriptions_match_graphql_core(case: Case) -> None:
    comparison = compare(
        case.schema,
        case.document,
        case.events,
        case.calls,
        operation_name=case.operation_name,
        variable_values=case.variables,
        compiled_schema=case.compiled_schema,
    )
    assert_identical(comparison)


# -- examples, one kind of case each ------------------------------------------------------

SDL = """
type Query { ok: Boolean }
enum Color { RED GREEN BLUE }
scalar Shout
scalar Fragile
interface Node { id: ID! }
type Item implements Node {
  id: ID!
  n: Int
  x: Float
  s: String
  b: Boolean
  color: Color
  shout: Shout
  fragile: Fragile
  strict: Int!
  tags: [String!]
  grid: [[Int]!]
  child: Item
  echo(n: Int = 3, color: Color = RED): String
  sync: String
  later: String
  refused: String
  broken: String
}
type Other implements Node { id: ID! note: String }
union Thing = Item | Other
type Subscription {
  item: Item
  items: [Item!]
  node: Node
  thing: Thing
  strictItem: Item!
}
"""


def example_schema(calls: Counter[str], *, is_type_of: bool = False) -> GraphQLSchema:
    schema = build_schema(SDL)
    color = schema.type_map["Color"]
    for name, value in (("RED", "r"), ("GREEN", "g"), ("BLUE", 0)):
        color.values[name].value = value  # type: ignore[attr-defined]
    schema.type_map["Shout"].serialize = shout_serialize(calls)  # type: ignore[attr-defined]
    schema.type_map["Fragile"].serialize = fragile_serialize(calls)  # type: ignore[attr-defined]
    item: Any = schema.type_map["Item"]
    fields = item.fields

    def echo(_source: Any, _info: Any, **args: Any) -> str:
        calls["Item.echo"] += 1
        return repr(sorted(args.items()))

    def sync(source: Any, _info: Any) -> Any:
        calls["Item.sync"] += 1
        return lookup(source, "s")

    async def later(source: Any, _info: Any) -> Any:
        calls["Item.later"] += 1
        return lookup(source, "s")

    def refused(_source: Any, _info: Any) -> Any:
        calls["Item.refused"] += 1
        raise GraphQLError("refused", extensions={"code": "NO", "detail": [1, "two"]})

    async def broken(_source: Any, _info: Any) -> Any:
        calls["Item.broken"] += 1
        raise RuntimeError("broken")

    for name, resolver in (
        ("echo", echo),
        ("sync", sync),
        ("later", later),
        ("refused", refused),
        ("broken", broken),
    ):
        fields[name].resolve = resolver

    def resolve_type(value: Any, _info: Any, _type: Any) -> Any:
        calls["resolve_type"] += 1
        return lookup(value, "kind")

    for abstract in ("Node", "Thing"):
        target: Any = schema.type_map[abstract]
        target.resolve_type = None if is_type_of else resolve_type
    if is_type_of:
        for name in ("Item", "Other"):

            def check(value: Any, _info: Any, name: str = name) -> bool:
                calls[f"{name}.is_type_of"] += 1
                return bool(lookup(value, "kind") == name)

            schema.type_map[name].is_type_of = check  # type: ignore[attr-defined]
    return schema


def check(
    query: str,
    events: list[Any],
    *,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
    is_type_of: bool = False,
) -> None:
    calls: Counter[str] = Counter()
    comparison = compare(
        example_schema(calls, is_type_of=is_type_of),
        parse(query),
        events,
        calls,
        operation_name=operation_name,
        variable_values=variables,
    )
    assert comparison is not None
    assert_identical(comparison)


class Attributes:
    """An event read by attribute instead of by key."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def test_leaves_of_every_kind_and_their_wrong_values() -> None:
    query = "subscription { item { id n x s b color shout fragile } }"
    check(
        query,
        [
            {
                "item": {
                    "id": 1,
                    "n": 7,
                    "x": 1.5,
                    "s": "a",
                    "b": True,
                    "color": "g",
                    "shout": "hi",
                    "fragile": 4,
                }
            },
            {
                "item": {
                    "id": 1.5,
                    "n": 2**31,
                    "x": float("nan"),
                    "s": {"k": 1},
                    "b": "yes",
                    "color": "RED",
                    "shout": 3,
                    "fragile": -1,
                }
            },
            {"item": {"n": "12", "x": 3, "s": 5, "fragile": "1"}},
        ],
    )


def test_events_as_objects_with_attributes() -> None:
    check(
        "subscription { item { n child { s } } }",
        [{"item": Attributes(n=1, child=Attributes(s="deep"))}, Attributes(item=None)],
    )


def test_non_null_propagates_to_the_nearest_nullable_parent() -> None:
    check(
        "subscription { item { child { strict n } } items { id strict } strictItem { strict } }",
        [
            {"item": {"child": {"n": 1}}, "items": [{"id": 1, "strict": 1}, {"id": 2}]},
            {"item": {"child": {"strict": "no"}}, "strictItem": {"strict": 1}},
            {"strictItem": None},
        ],
    )


def test_nested_lists_with_holes_and_non_lists() -> None:
    check(
        "subscription { item { tags grid } }",
        [
            {"item": {"tags": ["a", None, "c"], "grid": [[1, None], None, [2.5]]}},
            {"item": {"tags": "not a list", "grid": ("t", [1])}},
            {"item": {"tags": ("x",), "grid": [{"k": 1}]}},
        ],
    )


def test_custom_sync_async_and_failing_resolvers() -> None:
    check(
        "subscription { items { sync later refused broken } }",
        [{"items": [{"s": "one"}, {"s": 2}]}, {"items": []}],
    )


def test_arguments_from_literals_defaults_and_variables() -> None:
    check(
        "subscription ($n: Int = 5, $c: Color) {"
        " item { a: echo b: echo(n: 1, color: BLUE) c: echo(n: $n, color: $c) } }",
        [{"item": {}}],
        variables={"c": "GREEN"},
    )


def test_aliases_merging_fragments_and_typename() -> None:
    check(
        """
        subscription { item { ...Parts n first: s ... on Item { child { n } __typename }
                              ... { child { s } } } }
        fragment Parts on Item { n first: s child { n } }
        """,
        [{"item": {"n": 1, "s": "x", "child": {"n": 2, "s": "y"}}}],
    )


def test_skip_and_include_with_literals_and_variables() -> None:
    check(
        "subscription ($yes: Boolean!) { item {"
        " n @include(if: $yes) s @skip(if: $yes) b @skip(if: false) id @include(if: false)"
        " ... on Item @include(if: $yes) { color } } }",
        [{"item": {"n": 1, "s": "a", "b": False, "id": 3, "color": "r"}}],
        variables={"yes": True},
    )


def test_interfaces_and_unions_by_resolve_type() -> None:
    query = """
    subscription {
      node { __typename id ... on Item { n } ... on Other { note } }
      thing { ... on Node { id } ... on Other { note } }
    }
    """
    # Two root fields are not a valid subscription: one root field per operation.
    for root in ("node", "thing"):
        selection = query.split("\n")[2 if root == "node" else 3]
        check(
            f"subscription {{ {selection} }}",
            [
                {root: {"kind": "Item", "id": 1, "n": 2}},
                {root: {"kind": "Other", "id": 2, "note": "n"}},
                {root: {"kind": "Nope", "id": 3}},
                {root: {"id": 4}},
                {root: "not an object"},
            ],
        )


def test_interfaces_and_unions_by_is_type_of() -> None:
    check(
        "subscription { thing { __typename ... on Item { n child { n } } ... on Other { note } } }",
        [
            {"thing": {"kind": "Item", "n": 1, "child": {"kind": "Item", "n": 2}}},
            {"thing": {"kind": "Item", "n": 1, "child": {"kind": "Other"}}},
            {"thing": {"kind": "Other", "note": "x"}},
            {"thing": {"kind": "Nope"}},
        ],
        is_type_of=True,
    )


def test_exceptions_as_values() -> None:
    check(
        "subscription { item { n s child { n } } }",
        [
            {
                "item": {
                    "n": GraphQLError("a value"),
                    "s": ValueError("also"),
                    "child": GraphQLError("c"),
                }
            }
        ],
    )


def test_the_named_operation_of_several() -> None:
    check(
        "subscription A { item { n } } subscription B { items { s } }",
        [{"item": {"n": 1}, "items": [{"s": "x"}]}],
        operation_name="B",
    )


def test_a_null_propagating_past_an_awaited_sibling() -> None:
    # graphql-core 3.2 never awaits ``later`` here (3.3 does): the same on both sides.
    check(
        "subscription { item { later strict } }",
        [{"item": {"s": "x", "strict": None}}],
    )


# -- what the generated cases leave out ------------------------------------------------------

AWAITABLES_SDL = """
type Query { ok: Boolean }
interface I { a: String }
type A implements I { a: String b(n: Int = 1): String }
type B implements I { a: String }
type Subscription { values: [String] one: A things: [I] }
"""


def awaitables_schema(calls: Counter[str]) -> GraphQLSchema:
    schema = build_schema(AWAITABLES_SDL)
    subscription: Any = schema.subscription_type

    async def item(value: Any) -> Any:
        if value == "boom":
            raise ValueError("boom")
        return value

    def values(source: Any, _info: Any) -> Any:
        calls["values"] += 1
        kind = source["values"]
        if kind == "awaitables":
            return [item("x"), item("boom"), "z", item(None)]
        if kind == "future":
            future = asyncio.get_running_loop().create_future()
            future.set_result(["from a future"])
            return future
        return (value for value in ["from", "a generator"])

    subscription.fields["values"].resolve = values

    async def resolve_type(value: Any, _info: Any, _type: Any) -> Any:
        calls["resolve_type"] += 1
        return lookup(value, "kind")

    schema.type_map["I"].resolve_type = resolve_type  # type: ignore[attr-defined]

    async def is_b(value: Any, _info: Any) -> bool:
        calls["B.is_type_of"] += 1
        return bool(lookup(value, "kind") == "B")

    schema.type_map["B"].is_type_of = is_b  # type: ignore[attr-defined]
    return schema


def test_awaitable_list_items_futures_and_generators() -> None:
    calls: Counter[str] = Counter()
    comparison = compare(
        awaitables_schema(calls),
        parse("subscription { values }"),
        [{"values": "awaitables"}, {"values": "future"}, {"values": "generator"}],
        calls,
    )
    assert comparison is not None
    assert_identical(comparison)


def test_awaited_resolve_type_and_is_type_of() -> None:
    calls: Counter[str] = Counter()
    comparison = compare(
        awaitables_schema(calls),
        parse("subscription { things { __typename a ... on A { b } } }"),
        [{"things": [{"kind": "A", "a": "x"}, {"kind": "B"}, {"kind": "C"}, None]}],
        calls,
    )
    assert comparison is not None
    assert_identical(comparison)


class WithMethods:
    """An event whose fields are methods: the default resolver calls them with the
    field's info and arguments."""

    def a(self, info: Any) -> str:
        return f"{info.parent_type.name}.{info.field_name}"

    def b(self, _info: Any, n: int) -> str:
        return f"b{n}"


def test_the_default_resolver_calls_callable_attributes() -> None:
    calls: Counter[str] = Counter()
    comparison = compare(
        awaitables_schema(calls),
        parse("subscription { one { a b x: b(n: 4) } }"),
        [{"one": WithMethods()}],
        calls,
    )
    assert comparison is not None
    assert_identical(comparison)


# -- resolvers that mutate their arguments ---------------------------------------------------

MUTATING_SDL = """
type Query { ok: Boolean }
input Filter { ids: [Int] tag: String }
scalar Word
type Subscription {
  grab(ids: [Int], filter: Filter, n: Int, fallback: [Int] = [7],
       preset: Filter = {ids: [8], tag: "p"}): String
  held(ids: [Int] = [9], filter: Filter): String
  say(word: Word, n: Int): String
}
"""


def mutate(value: Any) -> None:
    """What a careless resolver does to the containers it is given."""
    if isinstance(value, list):
        value.append(len(value))
    elif isinstance(value, dict):
        value["tag"] = f"{value.get('tag')}!"
        mutate(value.get("ids"))


def mutating_schema(calls: Counter[str]) -> GraphQLSchema:
    schema = build_schema(MUTATING_SDL)

    def grab(_source: Any, _info: Any, **args: Any) -> str:
        calls["grab"] += 1
        # What it was given, before changing it: the next event shows whether the
        # change was kept.
        given = repr(sorted(args.items()))
        for value in args.values():
            mutate(value)
        args.pop("n", None)
        return given

    schema.subscription_type.fields["grab"].resolve = grab  # type: ignore[union-attr]

    def parse_literal(node: Any, _variables: Any = None) -> str:
        calls["Word.parse_literal"] += 1
        return str(node.value).upper()

    word: Any = schema.type_map["Word"]
    word.parse_literal = parse_literal

    def say(_source: Any, _info: Any, **args: Any) -> str:
        calls["say"] += 1
        return repr(sorted(args.items()))

    schema.subscription_type.fields["say"].resolve = say  # type: ignore[union-attr]
    return schema


class Holder:
    """An event whose ``held`` field is a method (the default resolver calls it)."""

    def __init__(self, calls: Counter[str]) -> None:
        self.calls = calls

    def held(self, _info: Any, **args: Any) -> str:
        self.calls["held"] += 1
        given = repr(sorted(args.items()))
        for value in args.values():
            mutate(value)
        return given


def check_mutating(query: str, *, variables: dict[str, Any] | None = None) -> None:
    calls: Counter[str] = Counter()
    comparison = compare(
        mutating_schema(calls),
        parse(query),
        [Holder(calls) for _ in range(3)],
        calls,
        variable_values=variables,
        # graphql-core keeps a default value across executions of its schema: each
        # side its own, so that both start from the schema's default.
        compiled_schema=mutating_schema(calls),
    )
    assert comparison is not None
    assert_identical(comparison)


def test_a_mutated_literal_list_is_fresh_for_every_event() -> None:
    check_mutating("subscription { grab(ids: [1, 2], n: 3) }")


def test_a_mutated_literal_input_object_is_fresh_for_every_event() -> None:
    check_mutating('subscription { grab(filter: {ids: [1], tag: "t"}) }')


def test_mutated_default_values_are_graphql_cores() -> None:
    # graphql-core 3.3 coerces a default once and gives that value to every
    # execution; 3.2 gives a list default as it is and coerces an input object's anew.
    check_mutating("subscription { grab }")


def test_a_mutated_variable_is_shared_by_the_events_as_graphql_core_shares_it() -> None:
    check_mutating(
        "subscription ($ids: [Int], $n: Int) { grab(ids: $ids, filter: {ids: $ids}, n: $n) }",
        variables={"ids": [1, 2], "n": 4},
    )


def test_a_literal_list_holding_a_variable() -> None:
    check_mutating("subscription ($n: Int) { grab(ids: [$n, 2]) }", variables={"n": 5})


def test_a_method_called_by_the_default_resolver_mutating_its_arguments() -> None:
    check_mutating('subscription { held(filter: {ids: [1], tag: "t"}) }')


def test_a_custom_scalar_parses_its_literal_for_every_event() -> None:
    # What it gives is a string, which no resolver can change: graphql-core still
    # parses the literal for every event, and so does the compiled plan.
    check_mutating('subscription { say(word: "hi", n: 2) }')


def test_compiling_parses_no_literal_of_a_custom_scalar() -> None:
    # graphql-core parses it once per event and never before: so does the plan.
    calls: Counter[str] = Counter()
    compiled = compile_subscription(
        mutating_schema(calls), parse('subscription { say(word: "hi") grab(ids: [1]) }')
    )
    assert isinstance(compiled, CompiledSubscription)
    assert calls == Counter()
