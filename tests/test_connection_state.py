"""The connection's lifecycle: one ``ConnectionState``, changed in one place, over a
scripted transport (no server), and the transitions it refuses."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from graphql import build_schema

from gqlwire import GraphQLServer
from gqlwire.adapters.base import Frame
from gqlwire.connection import Connection, ConnectionState, ConnectionStateError
from gqlwire.protocol import GRAPHQL_TRANSPORT_WS

OPEN, CLOSING, GONE, CLOSED = (
    ConnectionState.OPEN,
    ConnectionState.CLOSING,
    ConnectionState.GONE,
    ConnectionState.CLOSED,
)
ALLOWED = {(OPEN, CLOSING), (OPEN, GONE), (CLOSING, CLOSED)}

SCHEMA = build_schema("type Query { hello: String }")
INIT = json.dumps({"type": "connection_init"})


class ScriptedTransport:
    """A Transport whose peer is the test: frames are fed in, sends and closes recorded."""

    def __init__(self) -> None:
        self.close_code: int | None = None
        self.close_reason = ""
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent: list[str] = []
        self.closes: list[tuple[int, str]] = []
        self.receives_cancelled = 0
        self.send_works = True
        self.sent_one = asyncio.Event()
        self.close_may_finish: asyncio.Event | None = None  # holds close() until set

    async def accept(self, subprotocol: str | None) -> None:
        pass

    async def receive(self) -> str | bytes | None:
        try:
            return await self.incoming.get()
        except asyncio.CancelledError:
            self.receives_cancelled += 1
            raise

    def send_nowait(self, frame: Frame) -> bool:
        return False

    async def send(self, frame: Frame) -> bool:
        if not self.send_works:
            return False
        self.sent.append(frame if isinstance(frame, str) else frame.decode())
        self.sent_one.set()
        return True

    async def close(self, code: int, reason: str) -> None:
        self.closes.append((code, reason))
        if self.close_may_finish is not None:
            await self.close_may_finish.wait()


class Served:
    """A Connection being served over a ScriptedTransport, and what its hooks saw."""

    def __init__(self) -> None:
        self.hook_calls: list[tuple[str, int, str]] = []

        def on_close(ctx: Any, code: int, reason: str) -> None:
            self.hook_calls.append(("on_close", code, reason))

        runtime = GraphQLServer(SCHEMA, on_close=on_close).runtime
        self.transport = ScriptedTransport()
        self.connection = Connection(runtime, self.transport, {})
        self.task = asyncio.get_running_loop().create_task(
            self.connection.serve([GRAPHQL_TRANSPORT_WS])
        )

    async def acknowledged(self) -> None:
        self.transport.incoming.put_nowait(INIT)
        await asyncio.wait_for(self.transport.sent_one.wait(), 5)
        assert json.loads(self.transport.sent[0]) == {"type": "connection_ack"}

    async def until_served(self) -> None:
        await asyncio.wait_for(self.task, 5)


# -- the transition table ----------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), sorted(ALLOWED, key=str))
def test_allowed_transitions(old: ConnectionState, new: ConnectionState) -> None:
    assert old.to(new) is new


@pytest.mark.parametrize(
    ("old", "new"),
    [pair for pair in itertools.product(ConnectionState, repeat=2) if pair not in ALLOWED],
)
def test_every_other_transition_is_refused(old: ConnectionState, new: ConnectionState) -> None:
    with pytest.raises(ConnectionStateError, match=f"from {old.name} to {new.name}"):
        old.to(new)


def test_gone_and_closed_are_terminal_and_open_is_left_once() -> None:
    assert [s for s in ConnectionState if (OPEN, s) in ALLOWED] == [CLOSING, GONE]
    for end in (GONE, CLOSED):
        assert not any((end, s) in ALLOWED for s in ConnectionState)


# -- a real Connection going through them ------------------------------------------------


async def test_our_close_goes_open_closing_closed_and_stops_the_waiting_receive() -> None:
    served = Served()
    await served.acknowledged()
    assert served.connection.state is OPEN
    await served.connection.close(4000, "bye")
    assert served.connection.state is CLOSED
    await served.until_served()
    assert served.transport.closes == [(4000, "bye")]
    assert served.transport.receives_cancelled == 1  # the reader was stopped, not waited for
    assert served.hook_calls == [("on_close", 4000, "bye")]
    # A second close changes nothing and sends nothing.
    await served.connection.close(4001, "again")
    assert served.connection.state is CLOSED
    assert served.transport.closes == [(4000, "bye")]


async def test_the_serving_task_waits_in_closing_until_the_close_frame_is_out() -> None:
    served = Served()
    await served.acknowledged()
    served.transport.close_may_finish = asyncio.Event()
    closing = asyncio.get_running_loop().create_task(served.connection.close(4000, ""))
    for _ in range(100):
        if served.transport.closes:
            break
        await asyncio.sleep(0.01)
    assert served.connection.state is CLOSING
    await asyncio.sleep(0.05)
    assert not served.task.done()  # returning now would let the server drop our close frame
    # The peer leaving meanwhile (a failed send, reported by the outbox) changes nothing.
    served.connection.outbox_gone()
    assert served.connection.state is CLOSING
    served.transport.close_may_finish.set()
    await asyncio.wait_for(closing, 5)
    await served.until_served()
    assert served.connection.state is CLOSED
    assert served.hook_calls == [("on_close", 4000, "")]


async def test_the_peer_leaving_goes_open_gone_and_nothing_is_sent_after() -> None:
    served = Served()
    await served.acknowledged()
    served.transport.close_code, served.transport.close_reason = 4321, "left"
    served.transport.incoming.put_nowait(None)
    await served.until_served()
    assert served.connection.state is GONE
    assert served.transport.closes == []
    assert served.hook_calls == [("on_close", 4321, "left")]
    await served.connection.close()
    assert served.transport.closes == []
    assert served.connection.state is GONE


async def test_a_peer_gone_without_a_code_is_reported_as_1006() -> None:
    served = Served()
    await served.acknowledged()
    served.transport.incoming.put_nowait(None)  # close_code stays None
    await served.until_served()
    assert served.hook_calls == [("on_close", 1006, "")]


async def test_a_failed_send_is_the_peer_gone_and_interrupts_the_receive() -> None:
    served = Served()
    served.transport.send_works = False
    served.transport.incoming.put_nowait(INIT)  # its ack cannot be sent
    await served.until_served()
    assert served.connection.state is GONE
    assert served.transport.receives_cancelled == 1
    assert served.transport.closes == []
    assert served.hook_calls == [("on_close", 1006, "")]


async def test_a_misused_transition_raises_and_leaves_the_state() -> None:
    served = Served()
    await served.acknowledged()
    await served.connection.close()
    await served.until_served()
    for state in ConnectionState:
        with pytest.raises(ConnectionStateError):
            served.connection._enter(state)
    assert served.connection.state is CLOSED
    assert "CLOSED" in repr(served.connection)
