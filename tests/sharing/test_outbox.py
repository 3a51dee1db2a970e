"""The outbox's rules, with a transport whose writes the test controls."""

from __future__ import annotations

import asyncio

import pytest

from gqlwire.outbox import Outbox, OverflowPolicy
from tests.harness.transports import GatedTransport, RecordingOwner


def outbox(
    transport: GatedTransport, policy: OverflowPolicy, limit: int = 3
) -> tuple[Outbox, list[str]]:
    events: list[str] = []
    box = Outbox(
        transport,
        limit,
        policy,
        owner=RecordingOwner(events),
    )
    return box, events


async def test_results_wait_for_room_and_nothing_is_lost() -> None:
    transport = GatedTransport()
    box, _ = outbox(transport, OverflowPolicy.CLOSE)
    producer = asyncio.create_task(_produce(box, 10))
    await asyncio.sleep(0.05)
    assert not producer.done()  # held at the bound while the client does not read
    assert len(box) <= 4  # 3 queued + at most 1 being written
    transport.gate.set()
    await asyncio.wait_for(producer, 2)
    await asyncio.wait_for(box.flush(), 2)
    assert transport.sent == [str(n) for n in range(10)]
    await box.stop()


async def _produce(box: Outbox, count: int) -> None:
    for n in range(count):
        await box.put_result(str(n))


async def test_close_policy_refuses_when_full_and_reports_overflow_once() -> None:
    transport = GatedTransport()
    box, events = outbox(transport, OverflowPolicy.CLOSE)
    accepted = [box.offer_result(str(n)) for n in range(6)]
    assert accepted[:3] == [True, True, True]
    assert accepted[-1] is False  # full: the publisher decides whether to wait
    assert events == []
    box.overflow()
    box.overflow()
    assert events == ["overflow"] and box.overflowed
    await box.stop()


async def test_waiting_for_room_follows_a_slow_writer_but_not_a_stalled_one() -> None:
    transport = GatedTransport()
    box, _ = outbox(transport, OverflowPolicy.CLOSE, limit=2)
    box.offer_result("x")
    await asyncio.sleep(0)  # the writer takes it and blocks on the unread socket
    while box.offer_result("x"):
        pass
    assert not await box.wait_for_room(0.1)  # nothing written for the grace period

    async def slow_reader() -> None:
        for _ in range(3):
            transport.gate.set()
            await asyncio.sleep(0)
            transport.gate.clear()
            await asyncio.sleep(0.05)

    reading = asyncio.create_task(slow_reader())
    assert await box.wait_for_room(0.3)  # progress: room comes, however slowly
    await reading
    await box.stop()


async def test_drop_oldest_keeps_the_newest_and_never_drops_control_frames() -> None:
    transport = GatedTransport()
    box, events = outbox(transport, OverflowPolicy.DROP_OLDEST, limit=2)
    box.put_control("ack")
    for n in range(5):
        assert box.offer_result(str(n))
    assert events == []
    transport.gate.set()
    await asyncio.wait_for(box.flush(), 2)
    assert transport.sent[0] == "ack"
    assert "4" in transport.sent and box.dropped >= 2
    assert len([frame for frame in transport.sent if frame != "ack"]) <= 3
    await box.stop()


@pytest.mark.parametrize("policy", list(OverflowPolicy))
async def test_stop_releases_waiting_producers(policy: OverflowPolicy) -> None:
    transport = GatedTransport()
    box, _ = outbox(transport, policy, limit=1)
    producer = asyncio.create_task(_produce(box, 5))
    await asyncio.sleep(0.02)
    await box.stop()
    await asyncio.wait_for(producer, 2)  # no producer waits forever for a dead socket


async def test_frames_go_straight_out_while_the_transport_takes_them_and_stay_in_order() -> None:
    transport = GatedTransport(buffer=2)
    box, _ = outbox(transport, OverflowPolicy.CLOSE, limit=10)
    box.put_control("ack")
    assert box.offer_result("1")
    assert transport.sent == ["ack", "1"] and len(box) == 0  # written at once, no task
    assert box.offer_result("2")  # the transport is full: queued for the writer
    transport.buffer = 5
    assert box.offer_result("3")  # would fit, but must not overtake "2"
    assert transport.sent == ["ack", "1"] and len(box) == 2
    transport.gate.set()
    await asyncio.wait_for(box.flush(), 2)
    assert transport.sent == ["ack", "1", "2", "3"]
    assert box.written == 4
    box.put_control("pong")  # the writer has ended: straight out again
    assert transport.sent[-1] == "pong" and len(box) == 0
    await box.stop()
