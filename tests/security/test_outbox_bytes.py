"""The outbox's byte budget, with a transport whose writes the test controls."""

from __future__ import annotations

import asyncio

from gqlwire.outbox import Outbox, OverflowPolicy
from tests.harness.transports import GatedTransport, RecordingOwner


def outbox(
    transport: GatedTransport, policy: OverflowPolicy, max_bytes: int, grace: float | None = 0.1
) -> tuple[Outbox, list[str]]:
    events: list[str] = []
    box = Outbox(
        transport,
        1000,
        policy,
        owner=RecordingOwner(events),
        max_bytes=max_bytes,
        grace=grace,
    )
    return box, events


async def test_results_wait_once_the_bytes_are_spent_and_a_stalled_client_is_given_up() -> None:
    transport = GatedTransport()
    box, events = outbox(transport, OverflowPolicy.CLOSE, max_bytes=100)
    await box.put_result("0" * 60)
    await asyncio.sleep(0)  # the writer takes it and waits on the unread socket
    await box.put_result("a" * 60)
    await box.put_result("b" * 60)  # under the budget when offered: taken
    assert box.pending_bytes == 120 and box.over_budget()
    await asyncio.wait_for(box.put_result("c" * 60), 2)  # nothing written: given up
    assert events == ["overflow"]
    assert box.pending_bytes <= 120  # the last result was not queued
    await box.stop()
    assert box.pending_bytes == 0


async def test_a_result_waits_while_the_client_reads_and_then_goes_out() -> None:
    transport = GatedTransport()
    box, events = outbox(transport, OverflowPolicy.CLOSE, max_bytes=100, grace=None)
    await box.put_result("0")
    await asyncio.sleep(0)  # the writer takes it and waits on the unread socket
    await box.put_result("a" * 150)  # larger than the budget: taken while nothing is queued
    producer = asyncio.create_task(box.put_result("b"))
    await asyncio.sleep(0.05)
    assert not producer.done()
    transport.gate.set()
    await asyncio.wait_for(producer, 2)
    await asyncio.wait_for(box.flush(), 2)
    assert transport.sent == ["0", "a" * 150, "b"] and events == []
    await box.stop()


async def test_control_frames_count_against_the_budget() -> None:
    transport = GatedTransport()
    box, _ = outbox(transport, OverflowPolicy.CLOSE, max_bytes=100)
    for _ in range(11):
        box.put_control('{"type":"pong"}')  # never refused, never waits...
    assert box.over_budget()  # ... but the receive loop sees the budget spent
    assert not await box.wait_for_budget(0.05)  # and nothing was written meanwhile
    transport.gate.set()
    assert await asyncio.wait_for(box.wait_for_budget(1), 2)
    await box.stop()


async def test_drop_oldest_drops_as_many_results_as_the_bytes_need() -> None:
    transport = GatedTransport()
    box, events = outbox(transport, OverflowPolicy.DROP_OLDEST, max_bytes=100)
    box.put_control("ack")
    for n in range(10):
        assert box.offer_result(str(n) * 40)
    assert box.pending_bytes < 100 + 40 and box.dropped >= 7 and events == []
    transport.gate.set()
    await asyncio.wait_for(box.flush(), 2)
    assert transport.sent[0] == "ack" and transport.sent[-1] == "9" * 40
    await box.stop()
