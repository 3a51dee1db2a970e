"""``HTTPClient``: queries and mutations over GraphQL over HTTP, subscriptions over
Server-Sent Events (graphql-sse's distinct connections mode), on aiohttp.

Every request is made, read and ended in the task of the caller (the consumer of
``subscribe()``), so a cancelled or abandoned operation ends its own request; the only
task is the one that holds an entered client's session. ``close()`` interrupts the
requests in progress through the ``asyncio.Timeout`` each one runs under, and waits
until they have let go before it closes the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, TypeVar

import aiohttp
import orjson

from .errors import (
    BadResponse,
    ClientClosed,
    ConnectionFailed,
    ConnectionLost,
    RequestTimeout,
)
from .graphql_response import interpret_payload, interpret_response, media_type
from .options import HeadersOption, HTTPClientOptions, RetryWait
from .resume import result_cursor, warn_if_gap, with_cursor
from .retry import ConnectionEnd, Decision, decide
from .sse import EventTooLarge, ServerSentEvent, SSEParser

__all__ = ["HTTPClient"]

logger = logging.getLogger("gqlwire.client")

GRAPHQL_ACCEPT: Final = "application/graphql-response+json, application/json"
EVENT_STREAM: Final = "text/event-stream"
DEFAULT_MAX_RESPONSE_SIZE: Final = 4 * 2**20
"""aiohttp's limit of a WebSocket message, so that both clients take the same results."""

_NO_AIOHTTP_TIMEOUT: Final = aiohttp.ClientTimeout()
"""The client's own ``timeout`` bounds a request; aiohttp's default (5 minutes in all)
would cut every longer event stream."""

_T = TypeVar("_T")


class _Interrupted(Exception):
    """``close()`` interrupted the request."""


@dataclass(eq=False)
class _Request:
    """One operation in progress: what ``close()`` must interrupt or end."""

    response: aiohttp.ClientResponse | None = None
    scope: asyncio.Timeout | None = None
    """The timeout of the await in progress, if one is."""
    left: asyncio.Future[None] | None = None
    """Done once that await returned (or raised)."""
    last_event_id: str = ""
    """The id of the latest SSE event with one; sent as ``Last-Event-ID`` when the stream
    is opened again (when resuming)."""
    cursor: str | None = None
    """The ``extensions.cursor`` of the latest result with one; sent back in the body's
    ``extensions`` when the stream is opened again (when resuming)."""


class HTTPClient:
    """GraphQL over HTTP for queries and mutations, and GraphQL over Server-Sent Events
    (graphql-sse's distinct connections mode) for subscriptions, with the results and
    errors of :class:`~gqlwire.Client`::

        async with HTTPClient("http://127.0.0.1:8000/graphql") as client:
            result = await client.execute("{ hello }")
            async for result in client.subscribe("subscription { countdown(start: 3) }"):
                print(result["data"])

    ``execute()`` POSTs ``application/json`` and accepts
    ``application/graphql-response+json`` and ``application/json``; ``subscribe()`` POSTs
    with ``Accept: text/event-stream`` and yields the data of each ``next`` event until
    ``complete``: one HTTP request per subscription.

    Results and errors are those of the WebSocket client: a payload with ``data`` is a
    result (with ``errors`` or not); one with only ``errors`` (a 400 or 422, a legacy
    200, or an SSE ``next`` event) raises :class:`GraphQLErrors`; another HTTP status
    raises :class:`HTTPStatusError` (a :class:`ConnectionFailed`); a refused connection
    raises :class:`ConnectionFailed`; a body that is not a GraphQL response raises
    :class:`BadResponse`; a connection or stream that ends too early raises
    :class:`ConnectionLost` (a :class:`ConnectionClosed` with code 1006); no response
    within ``timeout`` raises :class:`RequestTimeout`.

    Options:

    - ``headers``: HTTP headers of every request (an ``Authorization`` token), or a
      function (sync or async) called before each request to produce them.
    - ``timeout``: seconds for a query or mutation's whole response, and for an event
      stream to open (not for the stream itself); 0 or ``None``: no limit.
    - ``idle_timeout``: seconds an open event stream may send nothing, not even a
      keep-alive comment (graphql-sse sends one every 12 s), before it counts as
      dropped (:class:`ConnectionLost`, or opened again); 0 or ``None``: no limit.
    - ``retry_attempts`` and ``retry_wait``: as the WebSocket client's, for event
      streams: a stream that drops before ``complete`` is opened again (resumed, see
      ``resume``) up to ``retry_attempts`` times in the life of the subscription.
      Queries and mutations are never sent twice.
    - ``resume``: a stream opened again carries ``Last-Event-ID`` (the last ``id:``
      received) and ``extensions.cursor`` (the last result's cursor, merged into the
      ``extensions`` given to ``subscribe()``), so that a server whose events come from
      a broker with history resumes after them; a result carrying ``extensions.gap`` is
      yielded as it is and logged as a warning. ``False``: the subscription starts over
      with the original request. Default ``True``.
    - ``max_response_size``: bytes of a response body, and characters of one event;
      beyond it the request ends with :class:`BadResponse`.
    - ``session``: an ``aiohttp.ClientSession`` you own and close (for TLS settings, a
      proxy, a connection limit).

    Lifecycle: inside ``async with``, the client keeps one session (a pool of
    connections) until the block ends; used without it, the client opens a session for
    its operations and closes it as the last one ends. Leaving ``async with`` (or
    ``await client.close()``) ends every request: ``subscribe()`` iterators stop, a
    waiting ``execute()`` raises :class:`ClientClosed`. Leaving a subscription early (an
    exception or a cancellation in the consuming task, ``aclose()``, or ``break`` once
    the generator is finalized) closes its HTTP connection, which is how the server
    learns it ended.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: HeadersOption = None,
        timeout: float | None = 30.0,
        idle_timeout: float | None = None,
        retry_attempts: int = 5,
        retry_wait: RetryWait | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        session: aiohttp.ClientSession | None = None,
        resume: bool = True,
    ) -> None:
        self.options = HTTPClientOptions.build(
            url,
            headers=headers,
            timeout=timeout,
            idle_timeout=idle_timeout,
            retry_attempts=retry_attempts,
            retry_wait=retry_wait,
            max_response_size=max_response_size,
            session=session,
            resume=resume,
        )
        self._session: aiohttp.ClientSession | None = None  # ours, while one is open
        self._leases = 0  # operations using a session
        self._entered = False
        self._keeper: asyncio.Task[None] | None = None
        self._closed = False
        self._requests: set[_Request] = set()

    @property
    def url(self) -> str:
        return self.options.url

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> HTTPClient:
        if self._closed:
            raise ClientClosed()
        self._entered = True
        if self.options.session is None and self._keeper is None:
            # A task owns the session of an entered client: if the client is never
            # closed, the end of the event loop cancels the task, which closes it.
            session = self._session or _new_session()
            self._session = session
            self._keeper = asyncio.get_running_loop().create_task(
                _keep(session), name="gqlwire-http-client-session"
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """End every request and close the client's own session. The client cannot be
        used afterwards. Safe to call more than once."""
        self._closed = True
        loop = asyncio.get_running_loop()
        interrupted: list[asyncio.Future[None]] = []
        for request in list(self._requests):
            if request.scope is not None and request.left is not None:
                if not request.scope.expired():
                    request.scope.reschedule(loop.time())
                interrupted.append(request.left)
            elif request.response is not None:
                request.response.close()  # a consumer between two results
        if interrupted:
            # Only once they let go is the session closed: a connection closed under a
            # read would race the interruption with an error of its own.
            await asyncio.wait(interrupted)
        session, self._session = self._session, None
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.cancel()
            await asyncio.wait({keeper})  # it closes the session
        elif session is not None:
            await session.close()

    # -- operations ------------------------------------------------------------------------

    async def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        *,
        extensions: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """POST the operation and return its result (with ``errors`` if the server
        reported some alongside ``data``)."""
        body = orjson.dumps(_payload(query, variables, operation_name, extensions))
        async with self._lease() as session, self._request() as request:
            try:
                return await self._guarded(
                    request, lambda: self._post(session, body), self.options.timeout
                )
            except _Interrupted:
                raise ClientClosed("the client was closed before the result arrived") from None

    async def subscribe(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        *,
        extensions: Mapping[str, Any] | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Open an event stream for the operation and yield each result until the server
        completes it; simply stops if the client is closed meanwhile."""
        payload = _payload(query, variables, operation_name, extensions)
        async with self._lease() as session, self._request() as request:
            retries = 0
            retrying = False
            while True:
                if retrying:
                    try:
                        await self._guarded(
                            request, functools.partial(_wait, self.options.retry_wait, retries), 0
                        )
                    except _Interrupted:
                        return
                    retries += 1
                resumed = with_cursor(payload, request.cursor if self.options.resume else None)
                try:
                    end = await self._open_stream(session, orjson.dumps(resumed), request, retrying)
                except _Interrupted:
                    return
                if end is None:
                    assert request.response is not None
                    parser = SSEParser(self.options.max_response_size)
                    try:
                        while True:
                            try:
                                events = await self._guarded(
                                    request,
                                    functools.partial(self._read_events, request, parser),
                                    self.options.idle_timeout,
                                )
                            except _Interrupted:
                                return
                            except _StreamDropped as dropped:
                                end = dropped.end
                                break
                            except RequestTimeout:
                                silent = self.options.idle_timeout
                                end = _StreamDropped(
                                    f"the event stream from {self.url} sent nothing for "
                                    f"{silent:g} s"
                                ).end
                                break
                            for event in events:
                                if event.id:
                                    request.last_event_id = event.id
                                if event.event == "complete":
                                    return
                                if event.event == "next":
                                    result = interpret_payload(
                                        _json(event), f"a next event from {self.url}"
                                    )
                                    request.cursor = result_cursor(result) or request.cursor
                                    warn_if_gap(logger, result, f"at {self.url}", payload)
                                    yield result
                                # Other event types are not the protocol's: ignored, as
                                # graphql-sse's own client does with unknown ones.
                    finally:
                        request.response.close()
                        request.response = None
                # Unlike a socket's, the count does not restart once a stream opened: a
                # server that cuts the stream after each event (graphql-sse does when a
                # source raises) would otherwise restart the subscription for ever.
                decision = decide(
                    end, wanted=True, retries=retries, retry_attempts=self.options.retry_attempts
                )
                if decision is Decision.FAIL:
                    raise end.exception()
                retrying = decision is Decision.RETRY

    # -- requests --------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lease(self) -> AsyncIterator[aiohttp.ClientSession]:
        """The session for one operation: the caller's, or ours (made when needed, and
        closed with the last operation unless the client was entered)."""
        if self._closed:
            raise ClientClosed()
        session = self.options.session or self._session
        if session is None:
            session = self._session = _new_session()
        self._leases += 1
        try:
            yield session
        finally:
            self._leases -= 1
            if self._leases == 0 and self._session is session and not self._entered:
                self._session = None
                await session.close()

    @contextlib.asynccontextmanager
    async def _request(self) -> AsyncIterator[_Request]:
        request = _Request()
        self._requests.add(request)
        try:
            yield request
        finally:
            self._requests.discard(request)
            if request.response is not None:
                request.response.close()

    async def _guarded(
        self, request: _Request, step: Callable[[], Awaitable[_T]], seconds: float
    ) -> _T:
        """Await `step()` within `seconds` (0: no limit), unless ``close()``
        interrupts it first (:class:`_Interrupted`)."""
        if self._closed:
            raise _Interrupted()
        loop = asyncio.get_running_loop()
        left = loop.create_future()
        scope = asyncio.timeout(seconds or None)
        request.scope, request.left = scope, left
        try:
            async with scope:
                return await step()
        except TimeoutError:
            if not scope.expired():
                raise  # not ours
            if self._closed:
                raise _Interrupted() from None
            raise RequestTimeout(f"no response from {self.url} within {seconds:g} s") from None
        finally:
            request.scope = request.left = None
            left.set_result(None)

    async def _headers(self, accept: str) -> dict[str, str]:
        headers: Any = self.options.headers
        if callable(headers):
            headers = headers()
            if inspect.isawaitable(headers):
                headers = await headers
        result = {str(name): str(value) for name, value in (headers or {}).items()}
        # The protocol's own headers win over the application's.
        for name in [n for n in result if n.lower() in ("accept", "content-type")]:
            del result[name]
        result["Accept"] = accept
        result["Content-Type"] = "application/json"
        return result

    async def _post(self, session: aiohttp.ClientSession, body: bytes) -> dict[str, Any]:
        headers = await self._headers(GRAPHQL_ACCEPT)
        try:
            async with session.post(
                self.url, data=body, headers=headers, timeout=_NO_AIOHTTP_TIMEOUT
            ) as response:
                content = await self._read_body(response)
                return interpret_response(
                    self.url,
                    response.status,
                    response.reason or "",
                    response.headers.get("Content-Type"),
                    content,
                )
        except aiohttp.ClientConnectorError as error:
            raise ConnectionFailed(f"cannot connect to {self.url}: {error}") from error
        except (aiohttp.ClientError, OSError) as error:
            raise ConnectionLost(f"{self.url}: {_describe(error)}") from error

    async def _read_body(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.options.max_response_size
        if response.content_length is not None and response.content_length > limit:
            raise BadResponse(detail=f"the response from {self.url} is larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while chunk := await response.content.readany():
            size += len(chunk)
            if size > limit:
                raise BadResponse(
                    detail=f"the response from {self.url} is larger than {limit} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def _open_stream(
        self, session: aiohttp.ClientSession, body: bytes, request: _Request, retrying: bool
    ) -> ConnectionEnd | None:
        """Open the event stream into ``request.response``; None when it is open, else
        how the attempt ended (for :func:`decide`). Raises what is never retried."""
        try:
            try:
                await self._guarded(
                    request,
                    lambda: self._start_stream(session, body, request),
                    self.options.timeout,
                )
            except BaseException:
                # A response that is not a stream, or one cut while its error body was
                # read: closed now, not when the next attempt replaces it.
                if request.response is not None:
                    request.response.close()
                    request.response = None
                raise
        except (ConnectionFailed, RequestTimeout) as error:
            status = getattr(error, "status", None)
            retryable = retrying and (status is None or status >= 500 or status == 429)
            return ConnectionEnd(None, error=error, retryable=retryable)
        except ConnectionLost as error:
            return ConnectionEnd(error.code, error.reason, error=error)
        return None

    async def _start_stream(
        self, session: aiohttp.ClientSession, body: bytes, request: _Request
    ) -> None:
        headers = await self._headers(EVENT_STREAM)
        if request.last_event_id and self.options.resume:
            headers["Last-Event-ID"] = request.last_event_id
        try:
            response = await session.post(
                self.url, data=body, headers=headers, timeout=_NO_AIOHTTP_TIMEOUT
            )
        except aiohttp.ClientConnectorError as error:
            raise ConnectionFailed(f"cannot connect to {self.url}: {error}") from error
        except (aiohttp.ClientError, OSError) as error:
            raise ConnectionLost(f"{self.url}: {_describe(error)}") from error
        request.response = response
        content_type = response.headers.get("Content-Type")
        if response.status == 200 and media_type(content_type) == EVENT_STREAM:
            return
        try:
            content = await self._read_body(response)
        except (aiohttp.ClientError, OSError) as error:
            raise ConnectionLost(f"{self.url}: {_describe(error)}") from error
        # An error status says what it says; a result where a stream was asked for is
        # a server that does not speak SSE.
        interpret_response(self.url, response.status, response.reason or "", content_type, content)
        raise BadResponse(
            detail=f"{self.url} answered an event stream request with "
            f"{media_type(content_type) or 'no Content-Type'}, not {EVENT_STREAM}"
        )

    async def _read_events(self, request: _Request, parser: SSEParser) -> list[ServerSentEvent]:
        """The events of the next chunk of the stream (maybe none: a keep-alive comment).
        Raises :class:`_StreamDropped` when the stream ended without ``complete``."""
        assert request.response is not None
        try:
            chunk = await request.response.content.readany()
        except (aiohttp.ClientError, OSError) as error:
            raise _StreamDropped(f"the event stream from {self.url}: {_describe(error)}") from error
        if not chunk:
            raise _StreamDropped(f"the event stream from {self.url} ended before complete")
        try:
            return parser.feed(chunk)
        except EventTooLarge as error:
            raise BadResponse(detail=f"the event stream from {self.url}: {error}") from None


def _new_session() -> aiohttp.ClientSession:
    # No connection limit: each subscription holds a connection for its life, and with
    # aiohttp's default of 100 the 101st would wait without a word.
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def _keep(session: aiohttp.ClientSession) -> None:
    """Hold `session` until cancelled, then close it."""
    try:
        await asyncio.get_running_loop().create_future()
    finally:
        await session.close()


class _StreamDropped(Exception):
    """An open event stream ended without ``complete``."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        error = ConnectionLost(detail)
        self.end = ConnectionEnd(error.code, error.reason, acknowledged=True, error=error)


def _payload(
    query: str,
    variables: Mapping[str, Any] | None,
    operation_name: str | None,
    extensions: Mapping[str, Any] | None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"query": query}
    if variables is not None:
        payload["variables"] = dict(variables)
    if operation_name is not None:
        payload["operationName"] = operation_name
    if extensions is not None:
        payload["extensions"] = dict(extensions)
    return payload


def _json(event: ServerSentEvent) -> object:
    try:
        return orjson.loads(event.data)
    except orjson.JSONDecodeError:
        raise BadResponse(
            detail=f"a {event.event} event holds no JSON: {event.data[:80]!r}"
        ) from None


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


async def _wait(retry_wait: RetryWait, retries: int) -> None:
    delay = retry_wait(retries)
    if inspect.isawaitable(delay):
        await delay
    else:
        await asyncio.sleep(float(delay))
