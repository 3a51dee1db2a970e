"""``gqlwire.Client``: GraphQL over WebSocket from Python, both subprotocols."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..protocol.codes import GRAPHQL_TRANSPORT_WS
from .errors import ClientClosed, ClientError, GraphQLErrors
from .operations import ClientClosing, Failed, Operation
from .options import ClientOptions, ConnectionParams, RetryWait
from .protocol import Completed, Errors, Result
from .supervisor import ConnectionSupervisor

if TYPE_CHECKING:
    import aiohttp

__all__ = ["Client"]


class Client:
    """A GraphQL over WebSocket client on aiohttp, for ``graphql-transport-ws`` (the
    default) and the legacy ``graphql-ws``.

    ::

        async with Client("ws://127.0.0.1:8000/graphql") as client:
            result = await client.execute("{ hello }")
            async for result in client.subscribe("subscription { countdown(start: 3) }"):
                print(result["data"])

    Operations share one socket (ids "1", "2", ...). Results are the payload dicts the
    server sent, ``{"data": ..., "errors": ...}``: a result carrying GraphQL errors is
    still a result and is yielded or returned. An operation the server ends with an
    ``error`` message raises :class:`GraphQLErrors`; a socket that closes with a fatal
    code (or keeps failing after ``retry_attempts`` reconnections) raises
    :class:`ConnectionClosed` (or one of its kinds: :class:`ConnectionAckTimeout`,
    :class:`BadResponse`); a socket that cannot be opened raises
    :class:`ConnectionFailed`; a legacy server's ``connection_error`` raises
    :class:`ConnectionRejected`.

    Options (as npm graphql-ws's ``createClient``, in snake_case and seconds):

    - ``protocol``: ``"graphql-transport-ws"`` or ``"graphql-ws"`` (legacy).
    - ``connection_params``: the ``connection_init`` payload, or a function (sync or
      async) called before every connection attempt to produce it.
    - ``headers``: extra HTTP headers of the WebSocket handshake.
    - ``lazy``: connect at the first operation and close (1000) when the last one ends,
      ``lazy_close_timeout`` seconds later. ``lazy=False`` connects when the ``async
      with`` block starts (raising there if that fails) and keeps the socket open.
    - ``retry_attempts``: reconnections tried after an abnormal close before the
      operations fail (0: none); active subscriptions are subscribed again on the new
      socket. ``retry_wait(retries)`` returns the seconds to wait before each one (or
      an awaitable that waits); the default is ``2**retries`` s plus 0.3-3 s of jitter.
    - ``keep_alive``: seconds between client ``ping`` messages (``graphql-transport-ws``
      only); a ping unanswered for that long closes the socket with 4499 and
      reconnects. 0 disables. Server pings are always answered with ``pong``.
    - ``connection_ack_timeout``: seconds to wait for the handshake and
      ``connection_ack``; then the client closes with 4504 (retried). 0 waits forever.
    - ``session``: an ``aiohttp.ClientSession`` you own and close; by default the client
      makes one while it is connected and closes it.
    - ``resume``: when a subscription is subscribed again after a reconnect, send the
      ``extensions.cursor`` of the last result that carried one (merged into the
      ``extensions`` given to ``subscribe()``), so that a server whose events come from a
      broker with history resumes after it instead of starting over. A result carrying
      ``extensions.gap`` (events the server could no longer deliver) is yielded as it
      is, and logged as a warning. ``False`` resubscribes with the original payload.
      Default ``True``.

    Lifecycle: leaving ``async with`` (or ``await client.close()``) closes the socket
    with 1000 and ends everything; active ``subscribe()`` iterators then stop and a
    waiting ``execute()`` raises :class:`ClientClosed`. Leaving an operation early (an
    exception or a cancellation in the consuming task, ``aclose()`` on the iterator, or
    ``break`` once the iterator is finalized) sends ``complete`` (legacy: ``stop``). For
    a ``break`` to take effect at once rather than when Python finalizes the generator,
    iterate inside ``contextlib.aclosing(client.subscribe(...))``. Nothing relies on the
    garbage collector: a client used without ``async with`` ends its socket when its
    last operation ends (lazy mode), and its tasks end with the event loop.
    """

    def __init__(
        self,
        url: str,
        *,
        protocol: str = GRAPHQL_TRANSPORT_WS,
        connection_params: ConnectionParams = None,
        headers: Mapping[str, str] | None = None,
        lazy: bool = True,
        lazy_close_timeout: float = 0.0,
        retry_attempts: int = 5,
        retry_wait: RetryWait | None = None,
        keep_alive: float = 0.0,
        connection_ack_timeout: float | None = 10.0,
        session: aiohttp.ClientSession | None = None,
        resume: bool = True,
    ) -> None:
        self.options = ClientOptions.build(
            url,
            protocol=protocol,
            connection_params=connection_params,
            headers=headers,
            lazy=lazy,
            lazy_close_timeout=lazy_close_timeout,
            retry_attempts=retry_attempts,
            retry_wait=retry_wait,
            keep_alive=keep_alive,
            connection_ack_timeout=connection_ack_timeout,
            session=session,
            resume=resume,
        )
        self._supervisor = ConnectionSupervisor(self.options)

    @property
    def url(self) -> str:
        return self.options.url

    @property
    def protocol(self) -> str:
        return self.options.codec.name

    @property
    def closed(self) -> bool:
        return self._supervisor.closed

    @property
    def ack_payload(self) -> dict[str, Any] | None:
        """The payload of the current socket's ``connection_ack``, if it had one."""
        connection = self._supervisor.connection
        return dict(connection.ack_payload) if connection and connection.ack_payload else None

    async def __aenter__(self) -> Client:
        if self.closed:
            raise ClientClosed()
        if not self.options.lazy:
            try:
                await self._supervisor.connect()
            except BaseException:
                await self.close()
                raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the socket with 1000 "Normal Closure" and end every operation. The
        client cannot be used afterwards. Safe to call more than once."""
        await self._supervisor.close()

    async def subscribe(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        *,
        extensions: Mapping[str, Any] | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Run an operation and yield each result payload until the server completes it.

        Raises :class:`GraphQLErrors` on an ``error`` message and the connection's
        error if it fails for good; simply stops if the client is closed meanwhile.
        """
        async with self._operation(query, variables, operation_name, extensions) as operation:
            while True:
                result = await _next_result(operation)
                if result is None:
                    return
                yield result

    async def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        *,
        extensions: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Run a query or mutation and return its result payload (with ``errors`` if the
        server reported some alongside ``data``).

        Returns the first result; if the operation streams more (a subscription), the
        rest is cancelled with ``complete``.
        """
        async with self._operation(query, variables, operation_name, extensions) as operation:
            result = await _next_result(operation)
            if result is not None:
                return result
            if self.closed:
                raise ClientClosed("the client was closed before the result arrived")
            raise ClientError(f"operation {operation.id} completed without a result")

    @contextlib.asynccontextmanager
    async def _operation(
        self,
        query: str,
        variables: Mapping[str, Any] | None,
        operation_name: str | None,
        extensions: Mapping[str, Any] | None,
    ) -> AsyncIterator[Operation]:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = dict(variables)
        if operation_name is not None:
            payload["operationName"] = operation_name
        if extensions is not None:
            payload["extensions"] = dict(extensions)
        operation = self._supervisor.register(payload)
        try:
            await self._supervisor.start(operation)
            yield operation
        finally:
            await self._supervisor.release(operation)

    def __repr__(self) -> str:
        state = (
            "closed" if self.closed else ("connected" if self._supervisor.connection else "idle")
        )
        return f"<Client {self.url} {self.protocol} {state}>"


async def _next_result(operation: Operation) -> dict[str, Any] | None:
    """The next result payload; None when the operation completed or the client closed."""
    event = await operation.events.get()
    if isinstance(event, Result):
        return event.payload
    if isinstance(event, Errors):
        raise GraphQLErrors(event.errors)
    if isinstance(event, Failed):
        raise event.error
    if isinstance(event, Completed | ClientClosing):
        return None
    raise AssertionError(f"unknown operation event {event!r}")
