"""A scripted ASGI server, for the server behaviours no real server shows on demand.

Real servers are used wherever a user would see the behaviour. This driver exists for the
rest: a second ``websocket.connect`` before accept (granian < 2.3.2), a ``receive()`` that
raises (granian's "ASGI flow error"), a ``send()`` that raises any exception type or
silently succeeds after the client left, and a ``receive()`` that blocks forever after a
disconnect (hypercorn, daphne).

The test pushes what the "client" does (:meth:`FakeWebSocket.push_text`,
:meth:`FakeWebSocket.leave`...), reads what the app sent, and finally calls
:meth:`FakeWebSocket.assert_rules`, which checks the ASGI rules every app must keep
whatever the server does:

* ``websocket.accept`` at most once, only after ``websocket.connect``, with an offered
  subprotocol, and without accept headers when the server's spec version is below 2.1;
* data only between accept and close, each message with exactly one of text/bytes;
* at most one ``websocket.close``, with a code that can travel on the wire;
* nothing sent after the close, or after the app received ``websocket.disconnect``;
* no ``receive()`` after a disconnect (or after ``receive()`` raised: that is a disconnect);
* the app returns within a bounded time and leaves no task of its own running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from gqlwire.asgi_types import ASGIApplication, Message, Scope

AfterDisconnect = Literal["repeat", "block", "raise"]
"""What ``receive()`` does once a disconnect was delivered: return another disconnect
(uvicorn, granian), block forever (hypercorn, daphne), or raise (Starlette)."""

# Codes an endpoint may put in a close frame (RFC 6455 §7.4); 1005, 1006 and 1015 are
# reserved for reporting and can never be sent.
_SENDABLE_CODES = {1000, 1001, 1002, 1003, *range(1007, 1015), *range(3000, 5000)}
_SETTLE_ITERATIONS = 20


def websocket_scope(
    *,
    path: str = "/graphql",
    query_string: bytes = b"",
    subprotocols: Iterable[str] = ("graphql-transport-ws",),
    headers: Iterable[tuple[bytes, bytes]] = (),
    spec_version: str | None = "2.4",
    client: tuple[str, Any] = ("127.0.0.1", 50123),
    server: tuple[str, Any] = ("127.0.0.1", 8000),
    extensions: dict[str, Any] | None = None,
) -> Scope:
    """A WebSocket scope as a spec 2.4 server builds it; every quirk is a parameter."""
    offered = list(subprotocols)
    all_headers = [(b"host", b"127.0.0.1:8000"), *headers]
    if offered:
        all_headers.append((b"sec-websocket-protocol", ", ".join(offered).encode()))
    asgi: dict[str, str] = {"version": "3.0"}
    if spec_version is not None:
        asgi["spec_version"] = spec_version
    return {
        "type": "websocket",
        "asgi": asgi,
        "http_version": "1.1",
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string,
        "root_path": "",
        "headers": all_headers,
        "client": list(client),
        "server": list(server),
        "subprotocols": offered,
        "extensions": {} if extensions is None else extensions,
        "state": {},
    }


@dataclass(frozen=True)
class SentMessage:
    """One message the app passed to ``send()``, with the state it was sent in."""

    message: Message
    after_close: bool
    after_disconnect: bool
    peer_gone: bool


class FakeWebSocket:
    """Runs an ASGI app over one scripted WebSocket connection and records everything.

    Use as ``async with FakeWebSocket(app) as ws:``; leaving the block waits (bounded) for
    the app to return and cancels it if it does not, so no test can hang.
    """

    def __init__(
        self,
        app: ASGIApplication,
        scope: Scope | None = None,
        *,
        after_disconnect: AfterDisconnect = "repeat",
        repeat_connect_until_accept: bool = False,
        disconnect_after_close: bool = True,
        close_waits_for_receive: bool = False,
        autobahn_close_codes: bool = False,
        close_swallows_cancellation: bool = False,
        send_connect: bool = True,
    ) -> None:
        self.app = app
        self.scope = websocket_scope() if scope is None else scope
        self.after_disconnect = after_disconnect
        # granian < 2.3.2: every receive() before accept returned websocket.connect.
        self.repeat_connect_until_accept = repeat_connect_until_accept
        # Real servers report a disconnect after the app's own close; hypercorn and
        # daphne block the next receive() until then, uvicorn queues a synthetic one.
        self.disconnect_after_close = disconnect_after_close
        # granian 2.8.7: websocket.close does not complete while another task has a
        # receive() pending; it waits for that receive to return.
        self.close_waits_for_receive = close_waits_for_receive
        self._receiving = 0
        # daphne (autobahn): a close with a code other than 1000 or 3000-4999 (1001,
        # 1009, 1011...) raises and leaves the socket open.
        self.autobahn_close_codes = autobahn_close_codes
        self.refused_closes: list[Message] = []
        # A close frame the socket never takes (the client reads nothing), and a server
        # that swallows the first cancellation of that send: ``websocket.close`` then
        # returns only once it was cancelled a second time.
        self.close_swallows_cancellation = close_swallows_cancellation
        self._no_receive_pending = asyncio.Event()
        self._no_receive_pending.set()
        self.send_error: BaseException | None = None
        """While set, every ``send()`` records the message, then raises this."""
        self.peer_gone = False
        self.sent: list[SentMessage] = []
        self.violations: list[str] = []
        self.receive_calls = 0
        self.accepted = False
        self.refused = False
        self.close_sent = False
        self.send_failed = False  # a send raised: the server said the socket is gone
        self.disconnect_delivered = False
        self._connect_delivered = False
        self._inbox: asyncio.Queue[Message | BaseException] = asyncio.Queue()
        self._sent_changed = asyncio.Event()
        self._read = 0
        self._task: asyncio.Task[None] | None = None
        self._tasks_before: set[asyncio.Task[Any]] = set()
        self._leftover_tasks: list[asyncio.Task[Any]] = []
        self._app_error: BaseException | None = None
        if send_connect:
            self.push({"type": "websocket.connect"})

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> FakeWebSocket:
        self._tasks_before = set(asyncio.all_tasks())
        self._task = asyncio.create_task(self._run_app(), name="fake-asgi-app")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.finished(5.0, must_return=exc_info[0] is None)

    async def _run_app(self) -> None:
        try:
            await self.app(self.scope, self._receive, self._send)
        except BaseException as error:
            self._app_error = error
            raise
        finally:
            self._sent_changed.set()

    async def finished(self, within: float = 5.0, *, must_return: bool = True) -> None:
        """Wait for the app to return; record a violation if it does not in time."""
        assert self._task is not None, "use FakeWebSocket as an async context manager"
        done, _ = await asyncio.wait({self._task}, timeout=within)
        if not done:
            if must_return:
                self.violations.append(f"the app did not return within {within} s")
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=1.0)
            return
        # Let tasks that were cancelled on the way out run their last step.
        for _ in range(_SETTLE_ITERATIONS):
            await asyncio.sleep(0)
        current = asyncio.current_task()
        self._leftover_tasks = [
            task
            for task in asyncio.all_tasks()
            if task not in self._tasks_before and task is not current and not task.done()
        ]

    @property
    def returned(self) -> bool:
        return self._task is not None and self._task.done()

    @property
    def app_error(self) -> BaseException | None:
        """What the app raised to the server, if anything (cancellation excluded)."""
        error = self._app_error
        return None if isinstance(error, asyncio.CancelledError) else error

    # -- what the client does -------------------------------------------------------------

    def push(self, event: Message | BaseException) -> None:
        """Queue one event for ``receive()``; an exception is raised from it instead."""
        self._inbox.put_nowait(event)

    def push_text(self, data: Any) -> None:
        text = data if isinstance(data, str) else json.dumps(data)
        self.push({"type": "websocket.receive", "text": text})

    def push_bytes(self, data: bytes) -> None:
        self.push({"type": "websocket.receive", "bytes": data})

    def push_disconnect(self, code: int = 1005) -> None:
        self.push({"type": "websocket.disconnect", "code": code})

    def leave(self, *, code: int = 1006, report: bool = True) -> None:
        """The client is gone (TCP dropped). ``report=False`` keeps the server from telling
        the app yet, as when a send races the disconnect."""
        self.peer_gone = True
        if report:
            self.push_disconnect(code)

    # -- what the app sent ----------------------------------------------------------------

    async def next_message(self, within: float = 3.0) -> Message:
        """The next message the app sent, in order; fails if none comes in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self._read >= len(self.sent):
            if self.returned:
                raise AssertionError(f"the app returned; it sent {self.messages()}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                sent = self.messages()
                raise AssertionError(f"nothing sent within {within} s; sent so far {sent}")
            self._sent_changed.clear()
            try:
                await asyncio.wait_for(self._sent_changed.wait(), remaining)
            except TimeoutError:
                continue
        message = self.sent[self._read].message
        self._read += 1
        return message

    async def expect_accept(self, within: float = 3.0) -> Message:
        message = await self.next_message(within)
        assert message["type"] == "websocket.accept", message
        return message

    async def receive_json(self, within: float = 3.0) -> Any:
        """The next data message, parsed; fails on anything else (a close included)."""
        message = await self.next_message(within)
        assert message["type"] == "websocket.send", f"expected data, got {message}"
        text = message.get("text")
        return json.loads(text if text is not None else message["bytes"])

    async def expect_close(self, within: float = 3.0) -> tuple[int, str]:
        message = await self.next_message(within)
        assert message["type"] == "websocket.close", f"expected a close, got {message}"
        return int(message.get("code", 1000)), str(message.get("reason") or "")

    async def handshake(self, init: Message | None = None) -> Message:
        """Accept, send ``connection_init`` and return the ack (either protocol)."""
        await self.expect_accept()
        self.push_text({"type": "connection_init", **({} if init is None else {"payload": init})})
        ack: Message = await self.receive_json()
        assert ack["type"] == "connection_ack", ack
        return ack

    def messages(self) -> list[Message]:
        return [record.message for record in self.sent]

    def of_type(self, kind: str) -> list[Message]:
        return [record.message for record in self.sent if record.message["type"] == kind]

    # -- the rules ------------------------------------------------------------------------

    def assert_rules(self) -> None:
        """Fail with every ASGI rule the app broke during the connection."""
        problems = list(self.violations)
        if self._task is None or not self._task.done():
            problems.append("the app is still running (call finished() first)")
        if self.app_error is not None:
            problems.append(f"the app raised to the server: {self.app_error!r}")
        if self._leftover_tasks:
            problems.append(f"tasks left running after the app returned: {self._leftover_tasks}")
        if self.accepted and not (self.close_sent or self.disconnect_delivered or self.send_failed):
            problems.append("the app returned while open without sending websocket.close")
        assert not problems, "ASGI rules broken:\n  " + "\n  ".join(problems)

    # -- the server side ------------------------------------------------------------------

    async def _receive(self) -> Message:
        self._receiving += 1
        self._no_receive_pending.clear()
        try:
            return await self._next_event()
        finally:
            self._receiving -= 1
            if not self._receiving:
                self._no_receive_pending.set()

    async def _next_event(self) -> Message:
        self.receive_calls += 1
        if self.disconnect_delivered:
            self.violations.append("receive() called after a disconnect was delivered")
            if self.after_disconnect == "repeat":
                return {"type": "websocket.disconnect", "code": 1005}
            if self.after_disconnect == "raise":
                raise RuntimeError("Cannot call receive once a disconnect has been received")
            await asyncio.Event().wait()  # hypercorn, daphne: never returns
        if self.repeat_connect_until_accept and self._connect_delivered and not self.accepted:
            return {"type": "websocket.connect"}
        event = await self._inbox.get()
        if isinstance(event, BaseException):
            # Whatever receive() raises means the connection is gone.
            self.disconnect_delivered = True
            self.peer_gone = True
            raise event
        if event["type"] == "websocket.connect":
            self._connect_delivered = True
        elif event["type"] == "websocket.disconnect":
            self.disconnect_delivered = True
        return event

    async def _send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "websocket.close" and self._refuses_close(message):
            # Nothing was sent: the socket is still open.
            self.refused_closes.append(message)
            raise Exception(f"invalid close code {message.get('code')!r}")
        self.sent.append(
            SentMessage(message, self.close_sent, self.disconnect_delivered, self.peer_gone)
        )
        self._sent_changed.set()
        if self.close_sent:
            self.violations.append(f"{kind} sent after websocket.close")
        if self.disconnect_delivered:
            self.violations.append(f"{kind} sent after the app received websocket.disconnect")
        if kind == "websocket.accept":
            self._check_accept(message)
        elif kind == "websocket.send":
            if not self.accepted:
                self.violations.append("websocket.send before websocket.accept")
            text, data = message.get("text"), message.get("bytes")
            if (text is None) == (data is None):
                self.violations.append(f"websocket.send needs exactly one of text/bytes: {message}")
            elif type(text if text is not None else data) not in (str, bytes):
                self.violations.append(f"websocket.send data of type {type(text or data)}")
        elif kind == "websocket.close":
            self._check_close(message)
            if self.close_waits_for_receive:
                await self._no_receive_pending.wait()
            if self.close_swallows_cancellation:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.Event().wait()
                await asyncio.Event().wait()
            if self.disconnect_after_close and not self.disconnect_delivered:
                self.push_disconnect(int(message.get("code", 1000)) if self.accepted else 1006)
        elif kind == "websocket.http.response.start":
            if self.accepted:
                self.violations.append("denial response after accept")
            if "websocket.http.response" not in self.scope.get("extensions", {}):
                self.violations.append("denial response without the extension in the scope")
        elif kind != "websocket.http.response.body":
            self.violations.append(f"unknown message type {kind!r}")
        if self.send_error is not None:
            self.send_failed = True
            raise self.send_error

    def _refuses_close(self, message: Message) -> bool:
        if not (self.autobahn_close_codes and self.accepted and not self.close_sent):
            return False
        code = message.get("code", 1000)
        return type(code) is not int or not (code == 1000 or 3000 <= code <= 4999)

    def _check_accept(self, message: Message) -> None:
        if self.accepted:
            self.violations.append("websocket.accept sent twice")
        if not self._connect_delivered:
            self.violations.append("websocket.accept before websocket.connect was received")
        subprotocol = message.get("subprotocol")
        if subprotocol is not None and type(subprotocol) is not str:
            self.violations.append(f"accepted subprotocol {subprotocol!r} is not a str")
        if subprotocol is not None and subprotocol not in self.scope.get("subprotocols", []):
            self.violations.append(f"accepted subprotocol {subprotocol!r} was not offered")
        headers = message.get("headers") or []
        spec_version = self.scope.get("asgi", {}).get("spec_version", "2.0")
        if headers and tuple(map(int, spec_version.split("."))) < (2, 1):
            self.violations.append(f"accept headers sent to a spec {spec_version} server")
        for name, _ in headers:
            if name.lower() == b"sec-websocket-protocol" or name.startswith(b":"):
                self.violations.append(f"forbidden accept header {name!r}")
        self.accepted = True

    def _check_close(self, message: Message) -> None:
        if self.close_sent:
            self.violations.append("websocket.close sent twice")
        code = message.get("code", 1000)
        if type(code) is not int:
            # daphne (autobahn) refuses anything but an exact int, IntEnum included.
            self.violations.append(f"close code {code!r} is a {type(code).__name__}, not an int")
        reason = message.get("reason")
        if reason is not None and type(reason) is not str:
            self.violations.append(f"close reason {reason!r} is not a str")
        if self.accepted and code not in _SENDABLE_CODES:
            self.violations.append(f"close code {code} cannot be sent on the wire")
        if not self.accepted:
            self.refused = True
        self.close_sent = True


async def run_lifespan(app: ASGIApplication, within: float = 5.0) -> list[Message]:
    """Drive one lifespan cycle (startup, then shutdown); return what the app sent."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    sent: list[Message] = []
    answered = asyncio.Event()

    async def receive() -> Message:
        return await inbox.get()

    async def send(message: Message) -> None:
        sent.append(message)
        answered.set()

    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}

    async def run() -> None:
        await app(scope, receive, send)

    task = asyncio.create_task(run())
    try:
        for phase in ("startup", "shutdown"):
            answered.clear()
            inbox.put_nowait({"type": f"lifespan.{phase}"})
            await asyncio.wait_for(answered.wait(), within)
        await asyncio.wait_for(task, within)
    finally:
        if not task.done():
            task.cancel()
    return sent


class HookRecorder:
    """Hooks for a :class:`~gqlwire.GraphQLServer` that record each call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.changed = asyncio.Event()

    def hooks(self) -> dict[str, Callable[..., Any]]:
        def recorder(name: str) -> Callable[..., None]:
            def hook(ctx: Any, *args: Any) -> None:
                self.calls.append((name, args))
                self.changed.set()

            return hook

        names = ("on_connect", "on_disconnect", "on_close", "on_subscribe", "on_complete")
        return {name: recorder(name) for name in names}

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def count(self, name: str) -> int:
        return self.names().count(name)

    async def wait_for(self, name: str, within: float = 3.0) -> None:
        """Wait until ``name`` was called at least once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while name not in self.names():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"{name} was not called within {within} s: {self.names()}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)
