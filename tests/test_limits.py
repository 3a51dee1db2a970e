"""The cost of an operation, measured before it runs and bounded while it runs.

Plain calls: what :mod:`gqlwire.limits` counts (after fragment expansion, memoised per
fragment), what the document cache keeps (tokens, bytes, one analysis per document and
schema), the introspection and suggestion switches, and the execution budget of
:mod:`gqlwire.execution_budget`. ``tests/security/test_operation_cost.py`` plays the
same attacks against real servers.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    build_schema,
    get_introspection_query,
    get_operation_ast,
    parse,
)

import gqlwire.execution
from gqlwire.execution import (
    DocumentCache,
    ExecutionArgs,
    OperationResult,
    budgeted_execute,
    default_execute,
)
from gqlwire.limits import OperationLimits, limit_errors, operation_costs, without_suggestions
from gqlwire.options import ServerOptions
from gqlwire.runtime import ServerRuntime

SCHEMA: GraphQLSchema = build_schema(
    """
    type Query { person: Person! hello: String! }
    type Person { name: String! friends(first: Int!): [Person!]! boom: [Person!]! }
    type Mutation { touch: Int! }
    """
)
_PERSON: dict[str, Any] = {"name": "ada"}


def _boom(_person: Any, _info: Any) -> list[Any]:
    return [_PERSON, None, _PERSON]  # a null in a non-null list: graphql-core drops siblings


SCHEMA.query_type.fields["person"].resolve = lambda _root, _info: _PERSON  # type: ignore[union-attr]
_person_type: Any = SCHEMA.type_map["Person"]
_person_type.fields["friends"].resolve = lambda _person, _info, first: [_PERSON] * first
_person_type.fields["boom"].resolve = _boom

NO_LIMITS = OperationLimits(
    max_depth=None, max_aliases=None, max_root_fields=None, max_fields=None, max_directives=None
)


def cost(query: str) -> Any:
    [(_operation, measured)] = operation_costs(parse(query))
    return measured


def nested(depth: int, first: int = 2) -> str:
    """``{ person { friends(first: N) { friends(...) { ... name } } } }``: depth + 2 deep."""
    selection = "name"
    for _ in range(depth):
        selection = f"friends(first: {first}) {{ {selection} }}"
    return f"{{ person {{ {selection} }} }}"


def bomb(levels: int) -> str:
    """Each fragment spreads the next one twice: 2**levels aliased fields in the end."""
    fragments = [
        f"fragment F{level} on Person {{ ...F{level + 1} ...F{level + 1} }}"
        for level in range(levels)
    ]
    return "\n".join(
        ["{ person { ...F0 } }", *fragments, f"fragment F{levels} on Person {{ n: name }}"]
    )


# -- counting ---------------------------------------------------------------------------


def test_depth_counts_levels_of_fields() -> None:
    assert cost("{ hello }").depth == 1
    assert cost("{ person { name } }").depth == 2
    assert cost(nested(19)).depth == 21


def test_fields_aliases_and_root_fields() -> None:
    measured = cost("{ a: hello b: hello person { n: name friends(first: 1) { name } } }")
    assert (measured.root_fields, measured.aliases, measured.fields) == (3, 3, 6)


def test_a_fragment_counts_wherever_it_is_spread() -> None:
    query = """
        { person { ...Names friends(first: 1) { ...Names } } }
        fragment Names on Person { a: name b: name }
    """
    measured = cost(query)
    assert (measured.aliases, measured.fields, measured.depth) == (4, 6, 3)


def test_fragments_and_inline_fragments_at_the_root_count_as_root_fields() -> None:
    query = "{ ...Root ... on Query { c: hello } } fragment Root on Query { a: hello b: hello }"
    assert cost(query).root_fields == 3


def test_depth_through_fragments() -> None:
    query = "{ person { ...Deep } } fragment Deep on Person { friends(first: 1) { name } }"
    assert cost(query).depth == 3


def test_a_fragment_bomb_is_counted_exactly_and_each_fragment_once() -> None:
    # 2**64 fields: expanding them one by one would never end (the test would time out).
    measured = cost(bomb(64))
    assert measured.aliases == 2**64
    assert measured.fields == 2**64 + 1


def test_cycles_terminate() -> None:
    query = """
        { person { ...A } }
        fragment A on Person { name ...B }
        fragment B on Person { name ...A }
    """
    assert cost(query).fields == 3  # person, A's name, B's name; the cycle counts nothing


def test_unknown_fragments_count_nothing() -> None:
    assert cost("{ person { ...Missing } }").fields == 1


def test_every_operation_is_measured() -> None:
    costs = operation_costs(parse("query A { hello } query B { person { name } }"))
    assert [measured.depth for _operation, measured in costs] == [1, 2]


# -- the limits' errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "limits", "message"),
    [
        (nested(19), OperationLimits(), "Query depth 21 exceeds the limit of 15"),
        ("{ a: hello b: hello c: hello }", OperationLimits(max_aliases=2),
         "Alias count 3 exceeds the limit of 2"),
        ("{ hello hello }", OperationLimits(max_root_fields=1),
         "Root field count 2 exceeds the limit of 1"),
        (nested(3), OperationLimits(max_fields=4), "Field count 5 exceeds the limit of 4"),
        (bomb(16), OperationLimits(), "Alias count 65536 exceeds the limit of 30"),
        ("query Q @a { hello @b ...F @c ... @d { hello } } fragment F on Query @e { hello @f }",
         OperationLimits(max_directives=5), "Directive count 6 exceeds the limit of 5"),
        ("query Q($v: Int @a) { ...F ...F } fragment F on Query { hello @b @c }",
         OperationLimits(max_directives=4), "Directive count 5 exceeds the limit of 4"),
    ],
)  # fmt: skip
def test_an_exceeded_limit_is_named_with_its_value(
    query: str, limits: OperationLimits, message: str
) -> None:
    [error] = limit_errors(parse(query), limits)
    assert error.message == message
    assert error.locations is not None


def test_none_disables_each_limit() -> None:
    assert limit_errors(parse(bomb(16)), NO_LIMITS) == []
    assert limit_errors(parse(nested(30)), OperationLimits(max_depth=None)) == []


def test_the_introspection_query_fits_the_defaults() -> None:
    # GraphiQL and codegen tools send it: it is exactly 15 deep, so the default may not
    # be lower.
    document = parse(get_introspection_query(descriptions=True))
    assert limit_errors(document, OperationLimits()) == []
    [(_operation, measured)] = operation_costs(document)
    assert measured.depth == 15


@pytest.mark.parametrize("value", [0, -1, 1.5, "10"])
def test_limits_must_be_positive_integers(value: Any) -> None:
    with pytest.raises(ValueError, match="max_depth must be a positive integer or None"):
        OperationLimits(max_depth=value)


# -- the document cache -----------------------------------------------------------------


def test_parsing_stops_at_max_tokens() -> None:
    cache = DocumentCache(max_tokens=10)
    with pytest.raises(Exception, match="Document contains more than 10 tokens"):
        cache.parse("{ " + "a " * 20 + "}")
    assert cache.parse("{ a b c }") is not None


def test_the_cache_is_bounded_in_bytes() -> None:
    one = DocumentCache(max_bytes=None)
    one.parse("{ " + "a " * 1000 + "x0 }")
    entry_size = one.bytes
    cache = DocumentCache(max_bytes=3 * entry_size)
    for number in range(10):
        cache.parse("{ " + "a " * 1000 + f"x{number} }}")
        assert cache.bytes <= 3 * entry_size
    assert len(cache) == 3
    # An entry bigger than the whole budget is answered but not kept.
    cache.parse("{ " + "b " * 5000 + "}")
    assert len(cache) == 3 and cache.bytes <= 3 * entry_size


def test_an_entry_finds_the_operation_each_name_selects() -> None:
    """What the cache remembers of the last name asked for never answers another."""
    query = "query A { a } query B { b } subscription C { c }"
    entry = DocumentCache(max_bytes=None).lookup(query)
    document = parse(query)
    for name in ["A", "A", "B", None, "C", "C", "nope", "B", None, "A"]:
        found = entry.operation(name)
        expected = get_operation_ast(document, name)
        assert (found and found.name and found.name.value) == (
            expected and expected.name and expected.name.value
        ), name
    single = DocumentCache(max_bytes=None).lookup("{ a }")
    assert single.operation(None) is not None and single.operation("X") is None
    assert single.operation(None) is not None


def test_a_token_heavy_document_is_charged_for_its_tokens() -> None:
    cache = DocumentCache(max_bytes=None)
    cache.parse("{ " + "a " * 5000 + "}")
    # About 570 bytes per token are measured with tracemalloc; the estimate is above.
    assert cache.bytes >= 5000 * 570


def test_a_document_is_analysed_once_per_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = limit_errors  # what gqlwire.execution imported

    def counting(document: Any, limits: OperationLimits) -> Any:
        calls.append(document)
        return real(document, limits)

    monkeypatch.setattr(gqlwire.execution, "limit_errors", counting)
    cache = DocumentCache(limits=OperationLimits())
    for _ in range(3):
        _document, errors = cache.validate(SCHEMA, nested(19))
        assert errors[0].message == "Query depth 21 exceeds the limit of 15"
    assert len(calls) == 1
    other = build_schema(
        "type Query { person: Person! }"
        " type Person { friends(first: Int!): [Person!]! name: String! }"
    )
    cache.validate(other, nested(19))
    assert len(calls) == 2  # the key includes the schema


def test_one_lookup_serves_parsing_and_validation() -> None:
    cache = DocumentCache(limits=OperationLimits())
    entry = cache.lookup("{ person { name } }")
    assert cache.misses == 1 and cache.hits == 0
    assert cache.errors_of(SCHEMA, entry) == []
    assert cache.errors_of(SCHEMA, entry) is cache.errors_of(SCHEMA, entry)  # kept per schema
    # The same entry as validate() finds, still looked up once more only.
    document, errors = cache.validate(SCHEMA, "{ person { name } }")
    assert document is entry.document() and errors == [] and cache.hits == 1
    broken = cache.lookup("{ person {")
    with pytest.raises(GraphQLError, match="Syntax Error"):
        broken.document()


def test_the_limits_are_checked_before_validation() -> None:
    cache = DocumentCache(limits=OperationLimits())
    # Within the limits, a fragment cycle is validation's to report.
    query = "{ person { ...A } } fragment A on Person { name ...B } fragment B on Person { ...A }"
    _document, errors = cache.validate(SCHEMA, query)
    assert errors and all("limit" not in error.message for error in errors)
    # Over them, validation does not run: the limit is the answer.
    _document, errors = cache.validate(SCHEMA, "{ " + " ".join(["nope"] * 21) + " }")
    assert [error.message for error in errors] == ["Root field count 21 exceeds the limit of 20"]


# -- introspection and suggestions ------------------------------------------------------


def test_introspection_can_be_refused() -> None:
    runtime = ServerRuntime(ServerOptions(schema=SCHEMA, introspection=False))
    _document, errors = runtime.documents.validate(SCHEMA, "{ __schema { types { name } } }")
    assert [error.message for error in errors] == [
        "Introspection is disabled: the query selects '__schema'."
    ]
    _document, errors = runtime.documents.validate(SCHEMA, '{ __type(name: "Query") { name } }')
    assert [error.message for error in errors] == [
        "Introspection is disabled: the query selects '__type'."
    ]
    assert runtime.documents.validate(SCHEMA, "{ __typename hello }")[1] == []
    open_cache = ServerRuntime(ServerOptions(schema=SCHEMA)).documents
    assert open_cache.validate(SCHEMA, "{ __schema { types { name } } }")[1] == []


def test_suggestions_are_hidden_with_introspection_unless_told() -> None:
    query = "{ helo }"
    shown = ServerRuntime(ServerOptions(schema=SCHEMA)).documents.validate(SCHEMA, query)[1]
    assert "Did you mean 'hello'?" in shown[0].message
    for runtime in (
        ServerRuntime(ServerOptions(schema=SCHEMA, introspection=False)),
        ServerRuntime(ServerOptions(schema=SCHEMA, hide_suggestions=True)),
    ):
        [error] = runtime.documents.validate(SCHEMA, query)[1]
        assert error.message == "Cannot query field 'helo' on type 'Query'."
    kept = ServerRuntime(ServerOptions(schema=SCHEMA, introspection=False, hide_suggestions=False))
    assert "Did you mean" in kept.documents.validate(SCHEMA, query)[1][0].message


def test_without_suggestions_keeps_the_rest_of_the_error() -> None:
    [error] = ServerRuntime(ServerOptions(schema=SCHEMA)).documents.validate(SCHEMA, "{ helo }")[1]
    [stripped] = without_suggestions([error])
    assert stripped.message == "Cannot query field 'helo' on type 'Query'."
    assert stripped.locations == error.locations


# -- the execution budget ---------------------------------------------------------------


def args(query: str) -> ExecutionArgs:
    return ExecutionArgs(schema=SCHEMA, document=parse(query))


def single(
    execute: Callable[[ExecutionArgs], Awaitable[OperationResult]],
) -> Callable[[ExecutionArgs], Awaitable[ExecutionResult]]:
    """``execute`` for operations that answer one result (nothing here defers)."""

    async def run(args: ExecutionArgs) -> ExecutionResult:
        result = await execute(args)
        assert isinstance(result, ExecutionResult)
        return result

    return run


async def test_a_heavy_operation_lets_others_run() -> None:
    ticks: list[int] = []
    finished = asyncio.Event()

    async def other_client() -> None:
        while not finished.is_set():
            ticks.append(len(ticks))
            await asyncio.sleep(0)

    async def heavy(execute: Any) -> Any:
        ticks.clear()
        finished.clear()
        other = asyncio.create_task(other_client())
        await asyncio.sleep(0)
        ran_before = len(ticks)
        result = await execute(args(nested(12)))
        during = len(ticks) - ran_before
        finished.set()
        await other
        return result, during

    plain, during_plain = await heavy(default_execute)
    assert during_plain == 0  # graphql-core alone holds the loop to the end
    sliced, during_sliced = await heavy(budgeted_execute(None, 0.001))
    assert during_sliced > 0
    assert sliced.data == plain.data and sliced.errors is None


@pytest.fixture
def collected() -> Iterator[None]:
    """Collects the test's garbage before the test ends, under the test's own warning
    filters: left to a later collection, an unawaited coroutine warns in whatever test
    then runs, where a stricter filter may make the warning an error."""
    yield
    gc.collect()


# graphql-core leaves some of its own coroutines unawaited when a field fails while
# others are pending (non-null errors, and the fields refused at the deadline).
def unawaited(test: Callable[..., Any]) -> Callable[..., Any]:
    test = pytest.mark.usefixtures("collected")(test)
    marked: Callable[..., Any] = pytest.mark.filterwarnings(
        "ignore:coroutine .* was never awaited"
    )(test)
    return marked


@unawaited
async def test_an_operation_over_its_time_is_one_error() -> None:
    result = await single(budgeted_execute(0.05, 0.01))(args(nested(30)))
    assert result.data is None
    assert [error.message for error in result.errors or ()] == [
        "Execution time exceeds the limit of 0.05 s"
    ]


@unawaited
async def test_without_slices_the_time_limit_still_holds() -> None:
    result = await single(budgeted_execute(0.05, None))(args(nested(30)))
    assert [error.message for error in result.errors or ()] == [
        "Execution time exceeds the limit of 0.05 s"
    ]


@unawaited
async def test_a_dropped_field_does_not_stall_the_rest() -> None:
    # A null in a non-null list makes graphql-core drop the awaitables of its siblings,
    # some of them deferred: the others still run, without a time limit to end them.
    query = "{ person { friends(first: 300) { boom { name } friends(first: 3) { name } } } }"
    expected = await single(default_execute)(args(query))
    result = await asyncio.wait_for(single(budgeted_execute(None, 0.0001))(args(query)), 30)
    assert result.data == expected.data
    assert [e.message for e in result.errors or ()] == [e.message for e in expected.errors or ()]


async def test_mutations_run_serially_under_a_budget() -> None:
    SCHEMA.mutation_type.fields["touch"].resolve = lambda _root, _info: 1  # type: ignore[union-attr]
    query = "mutation { " + " ".join(f"t{i}: touch" for i in range(500)) + " }"
    result = await single(budgeted_execute(None, 0.00001))(args(query))
    assert result.errors is None and result.data is not None and len(result.data) == 500
