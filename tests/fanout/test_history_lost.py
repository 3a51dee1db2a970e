"""HistoryBroker._history_lost: a backend that lost a topic's history under live
subscribers tells each of them in order, and they accept the new history's ids.

Shown on ``MemoryBroker(history=N)`` made to lose its history the way a restarted backend
does: a new epoch, and ids numbered from 1 again (as a recreated JetStream stream numbers
its messages), so that the new ids sort before the ones already yielded.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gqlwire.fanout import GapReason, MemoryBroker, ResumeGap, ResumePoint, current_resume


async def take(subscription: Any, count: int) -> list[Any]:
    async with asyncio.timeout(5):
        return [await anext(subscription) for _ in range(count)]


def lose_history(broker: MemoryBroker, topic: str) -> None:
    broker._histories.clear()
    broker._trimmed.clear()
    broker._epoch = "0ther0ne"
    broker._sequence = 0
    broker._history_lost(topic)


async def test_live_subscribers_are_told_in_order_and_go_on_with_the_new_history() -> None:
    async with MemoryBroker(history=100) as broker:
        point = ResumePoint()
        token = current_resume.set(point)
        try:
            told = broker.subscription("t")
        finally:
            current_resume.reset(token)
        async with told, broker.subscription("t", after=None) as untold:
            ids = [await broker.publish("t", n) for n in range(3)]
            assert await take(told, 3) == [0, 1, 2]
            assert await take(untold, 3) == [0, 1, 2]
            lose_history(broker, "t")
            assert (told.gaps, untold.gaps) == (1, 1)
            new_ids = [await broker.publish("t", n) for n in range(3, 6)]
            # Numbered 1, 2, 3 again: without the notice they would look replayed already.
            assert await take(told, 3) == [3, 4, 5]
            assert await take(untold, 3) == [3, 4, 5]
        assert point.take_gaps() == [ResumeGap("t", str(ids[2]), GapReason.LOST)]
        assert point.cursor == new_ids[-1]
