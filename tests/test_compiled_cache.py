"""Compiled plans are shared by identical subscriptions (each with its own context),
bounded, and kept apart by variables; refusals are counted with their reason."""

from __future__ import annotations

import gc
import logging
import weakref
from typing import Any

import pytest
from graphql import GraphQLSchema, build_schema, parse

from gqlwire.compiled import CompiledSubscription
from gqlwire.compiled.cache import SubscriptionCompiler
from gqlwire.response_stream import SubscriptionExecutor, build_executor

SDL = """
type Query { ok: Boolean }
type Subscription { greeting(name: String!): String! }
"""
QUERY = parse("subscription Hi($name: String!) { greeting(name: $name) }")


def make_schema() -> GraphQLSchema:
    schema = build_schema(SDL)
    field = schema.subscription_type.fields["greeting"]  # type: ignore[union-attr]
    field.resolve = lambda event, info, name: f"{event} {name} from {info.context}"
    return schema


def executor_for(schema: GraphQLSchema, context: Any, name: str, **extra: Any) -> Any:
    return build_executor(
        SubscriptionExecutor,
        {
            "schema": schema,
            "document": QUERY,
            "context_value": context,
            "variable_values": {"name": name},
            **extra,
        },
    )


def test_identical_subscriptions_compile_once_and_keep_their_own_context() -> None:
    schema = make_schema()
    compiler = SubscriptionCompiler()
    plans = [
        compiler(executor_for(schema, f"client {n}", "Ada"), {"name": "Ada"}) for n in range(1000)
    ]
    assert len(compiler) == 1
    assert compiler.stats() == {
        "subscriptions_compiled": 1000,
        "subscriptions_interpreted": 0,
        "queries_compiled": 0,
        "queries_interpreted": 0,
    }
    first, last = plans[0], plans[-1]
    assert isinstance(first, CompiledSubscription) and isinstance(last, CompiledSubscription)
    assert first.execute("hello").data == {"greeting": "hello Ada from client 0"}  # type: ignore[union-attr]
    assert last.execute("hello").data == {"greeting": "hello Ada from client 999"}  # type: ignore[union-attr]
    other = compiler(executor_for(schema, "x", "Bob"), {"name": "Bob"})
    assert len(compiler) == 2
    assert isinstance(other, CompiledSubscription)
    assert other.execute("hi").data == {"greeting": "hi Bob from x"}  # type: ignore[union-attr]


def test_the_cache_is_bounded() -> None:
    schema = make_schema()
    compiler = SubscriptionCompiler(maxsize=3)
    for n in range(10):
        compiler(executor_for(schema, None, f"n{n}"), {"name": f"n{n}"})
    assert len(compiler) == 3


def test_refusals_are_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    compiler = SubscriptionCompiler()
    executor = executor_for(
        make_schema(), None, "Ada", middleware=[lambda nxt, *a, **k: nxt(*a, **k)]
    )
    with caplog.at_level(logging.DEBUG, logger="gqlwire"):
        assert compiler.event_executor(executor, {"name": "Ada"}) is None
    assert compiler.stats() == {
        "subscriptions_compiled": 0,
        "subscriptions_interpreted": 1,
        "queries_compiled": 0,
        "queries_interpreted": 0,
    }
    assert "subscription not compiled: middleware" in caplog.text
    off = SubscriptionCompiler(enabled=False)
    assert off.event_executor(executor_for(make_schema(), None, "Ada"), {"name": "Ada"}) is None
    assert off.stats()["subscriptions_interpreted"] == 1


def test_a_cached_plan_keeps_no_subscription_context_alive() -> None:
    class Connection:
        def __str__(self) -> str:
            return "a connection"

    schema = make_schema()
    compiler = SubscriptionCompiler()
    context = Connection()
    compiled = compiler(executor_for(schema, context, "Ada"), {"name": "Ada"})
    assert isinstance(compiled, CompiledSubscription)
    assert compiled.execute("hi").data == {"greeting": "hi Ada from a connection"}  # type: ignore[union-attr]
    gone = weakref.ref(context)
    del compiled, context
    gc.collect()
    assert gone() is None
    assert len(compiler) == 1


def test_subscriptions_sharing_a_plan_keep_their_own_variable_values() -> None:
    # graphql-core coerces each subscription's variables for it: a list one resolver
    # changes is that subscription's alone, even where the plan is shared.
    schema = build_schema(
        "type Query { ok: Boolean } type Subscription { grab(ids: [Int]): String }"
    )

    def grab(_event: Any, _info: Any, ids: list[int]) -> str:
        given = repr(ids)
        ids.append(0)
        return given

    schema.subscription_type.fields["grab"].resolve = grab  # type: ignore[union-attr]
    document = parse("subscription ($ids: [Int]) { grab(ids: $ids) }")
    compiler = SubscriptionCompiler()
    plans = [
        compiler(
            build_executor(
                SubscriptionExecutor,
                {"schema": schema, "document": document, "variable_values": {"ids": [1]}},
            ),
            {"ids": [1]},
        )
        for _ in range(2)
    ]
    assert len(compiler) == 1
    results = [
        plan.execute(None).data  # type: ignore[union-attr]
        for plan in (plans[0], plans[0], plans[1])
    ]
    assert results == [{"grab": "[1]"}, {"grab": "[1, 0]"}, {"grab": "[1]"}]
