"""A compiled subscription reuses an event's executor for the next event only when the
event left it untouched: every event sees its own root value and only its own errors,
and no event is kept alive after its result."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

from graphql import build_schema, parse

from gqlwire.compiled import CompiledSubscription, compile_subscription

SDL = """
type Query { ok: Boolean }
type Tick { seq: Int! fragile: String root: Int slow: Int }
type Subscription { tick: Tick! }
"""
QUERY = parse("subscription { tick { seq fragile root slow } }")


class Event:
    """An event object that a weak reference can follow."""

    def __init__(self, seq: int, *, fail: bool = False, slow: bool = False) -> None:
        self.seq = seq
        self.fail = fail
        self.slow = slow


def compiled() -> CompiledSubscription:
    schema = build_schema(SDL)
    subscription = schema.subscription_type
    tick_type = schema.get_type("Tick")
    assert subscription is not None and tick_type is not None
    subscription.fields["tick"].resolve = lambda event, _info: event

    def fragile(event: Event, _info: Any) -> str:
        if event.fail:
            raise ValueError(f"event {event.seq} failed")
        return "fine"

    async def slow(event: Event, _info: Any) -> int:
        await asyncio.sleep(0)
        return event.seq

    fields = tick_type.fields  # type: ignore[attr-defined]
    fields["fragile"].resolve = fragile
    # The root value every resolver's info carries: the event being executed.
    fields["root"].resolve = lambda event, info: info.root_value.seq
    fields["slow"].resolve = lambda event, info: slow(event, info) if event.slow else None
    plan = compile_subscription(schema, QUERY)
    assert isinstance(plan, CompiledSubscription), plan
    return plan


def run(plan: CompiledSubscription, event: Event) -> Any:
    result = plan.execute(event)
    if not hasattr(result, "data"):
        result = asyncio.run(result)  # type: ignore[arg-type]
    return result


def test_each_event_sees_its_own_root_value_and_only_its_own_errors() -> None:
    plan = compiled()
    outcomes = []
    for seq, fail, slow in [
        (1, False, False),
        (2, True, False),
        (3, False, False),
        (4, False, True),
        (5, True, True),
        (6, False, False),
    ]:
        result = run(plan, Event(seq, fail=fail, slow=slow))
        errors = [(error.message, error.path) for error in result.errors or ()]
        outcomes.append((result.data, errors))
    assert outcomes == [
        ({"tick": {"seq": 1, "fragile": "fine", "root": 1, "slow": None}}, []),
        (
            {"tick": {"seq": 2, "fragile": None, "root": 2, "slow": None}},
            [("event 2 failed", ["tick", "fragile"])],
        ),
        ({"tick": {"seq": 3, "fragile": "fine", "root": 3, "slow": None}}, []),
        ({"tick": {"seq": 4, "fragile": "fine", "root": 4, "slow": 4}}, []),
        (
            {"tick": {"seq": 5, "fragile": None, "root": 5, "slow": 5}},
            [("event 5 failed", ["tick", "fragile"])],
        ),
        ({"tick": {"seq": 6, "fragile": "fine", "root": 6, "slow": None}}, []),
    ]


def test_an_event_is_not_kept_after_its_result() -> None:
    plan = compiled()
    run(plan, Event(1))  # the executor the next events reuse
    event = Event(2)
    alive = weakref.ref(event)
    result = run(plan, event)
    assert result.data["tick"]["seq"] == 2
    del event, result
    gc.collect()
    assert alive() is None
