"""The client's options, checked once when the client is created."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .protocol import ClientCodec, codec_for
from .retry import exponential_backoff

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "ClientOptions",
    "ConnectionParams",
    "HTTPClientOptions",
    "HeadersOption",
    "RetryWait",
    "check_http_url",
    "check_url",
]

ConnectionParams = (
    Mapping[str, Any]
    | Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any] | None] | None]
    | None
)
"""The ``connection_init`` payload, or a function (sync or async) called before every
connection attempt to produce it (a fresh token on each reconnection)."""

RetryWait = Callable[[int], float | Awaitable[None]]
"""Called with the number of reconnections tried so far; returns seconds to wait, or an
awaitable that waits."""

HeadersOption = (
    Mapping[str, str]
    | Callable[[], Mapping[str, str] | Awaitable[Mapping[str, str] | None] | None]
    | None
)
"""HTTP headers of every request, or a function (sync or async) called before each
request to produce them (a fresh token on each one)."""


def _seconds(name: str, value: float | None, *, allow_none: bool = True) -> float:
    """`value` as seconds >= 0; None (where allowed) and 0 both mean "disabled": 0.0."""
    if value is None and allow_none:
        return 0.0
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return 0.0 if math.isinf(value) else float(value)


_WEBSOCKET_SCHEMES = ("ws", "wss")


def check_url(url: object) -> None:
    """Refuse, when the client is created, a URL it could never connect to (rather than
    at the first operation, as a connection failure that looks like a network problem)."""
    if not isinstance(url, str):
        raise TypeError(f"url must be a ws:// or wss:// URL string, got {url!r}")
    expected = "expected ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH"
    parts = urlsplit(url)
    if parts.scheme not in _WEBSOCKET_SCHEMES:
        if parts.scheme in ("http", "https"):
            problem = f"is HTTP ({parts.scheme}://): the client speaks GraphQL over WebSocket"
        elif parts.scheme and parts.netloc:
            problem = f"has the scheme {parts.scheme!r}"
        else:
            problem = "is not a URL"
        raise ValueError(f"Client URL {url!r} {problem}; {expected}")
    if not parts.hostname:
        raise ValueError(f"Client URL {url!r} has no host; {expected}")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ValueError(f"Client URL {url!r} has an invalid port; {expected}") from None


_HTTP_SCHEMES = ("http", "https")


def check_http_url(url: object) -> None:
    """:func:`check_url` for :class:`~gqlwire.client.HTTPClient`: http:// or https://."""
    if not isinstance(url, str):
        raise TypeError(f"url must be an http:// or https:// URL string, got {url!r}")
    expected = "expected http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH"
    parts = urlsplit(url)
    if parts.scheme not in _HTTP_SCHEMES:
        if parts.scheme in _WEBSOCKET_SCHEMES:
            problem = f"is a WebSocket URL ({parts.scheme}://): HTTPClient speaks HTTP and SSE"
        elif parts.scheme and parts.netloc:
            problem = f"has the scheme {parts.scheme!r}"
        else:
            problem = "is not a URL"
        raise ValueError(f"HTTPClient URL {url!r} {problem}; {expected}")
    if not parts.hostname:
        raise ValueError(f"HTTPClient URL {url!r} has no host; {expected}")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ValueError(f"HTTPClient URL {url!r} has an invalid port; {expected}") from None


def _retry_attempts(retry_attempts: object) -> int:
    if isinstance(retry_attempts, bool) or not isinstance(retry_attempts, int):
        raise TypeError(f"retry_attempts must be an int, got {retry_attempts!r}")
    if retry_attempts < 0:
        raise ValueError(f"retry_attempts must be >= 0, got {retry_attempts!r}")
    return retry_attempts


@dataclass(frozen=True)
class ClientOptions:
    url: str
    codec: ClientCodec
    connection_params: ConnectionParams
    headers: Mapping[str, str] | None
    lazy: bool
    lazy_close_timeout: float
    retry_attempts: int
    retry_wait: RetryWait
    keep_alive: float  # 0: no client pings
    connection_ack_timeout: float  # 0: wait forever
    session: aiohttp.ClientSession | None
    resume: bool  # resubscribe from each subscription's last cursor

    @classmethod
    def build(
        cls,
        url: str,
        *,
        protocol: str,
        connection_params: ConnectionParams,
        headers: Mapping[str, str] | None,
        lazy: bool,
        lazy_close_timeout: float,
        retry_attempts: int,
        retry_wait: RetryWait | None,
        keep_alive: float | None,
        connection_ack_timeout: float | None,
        session: aiohttp.ClientSession | None,
        resume: bool,
    ) -> ClientOptions:
        check_url(url)
        _retry_attempts(retry_attempts)
        if connection_params is not None and not (
            isinstance(connection_params, Mapping) or callable(connection_params)
        ):
            raise TypeError(
                "connection_params must be a dict or a function returning one, "
                f"got {connection_params!r}"
            )
        if retry_wait is not None and not callable(retry_wait):
            raise TypeError(f"retry_wait must be callable, got {retry_wait!r}")
        return cls(
            url=url,
            codec=codec_for(protocol),
            connection_params=connection_params,
            headers=dict(headers) if headers is not None else None,
            lazy=bool(lazy),
            lazy_close_timeout=_seconds("lazy_close_timeout", lazy_close_timeout),
            retry_attempts=retry_attempts,
            retry_wait=retry_wait if retry_wait is not None else exponential_backoff,
            keep_alive=_seconds("keep_alive", keep_alive),
            connection_ack_timeout=_seconds("connection_ack_timeout", connection_ack_timeout),
            session=session,
            resume=bool(resume),
        )


@dataclass(frozen=True)
class HTTPClientOptions:
    url: str
    headers: HeadersOption
    timeout: float  # 0: no limit
    idle_timeout: float  # 0: no limit
    retry_attempts: int
    retry_wait: RetryWait
    max_response_size: int
    session: aiohttp.ClientSession | None
    resume: bool  # reopen a stream from its last event id and cursor

    @classmethod
    def build(
        cls,
        url: str,
        *,
        headers: HeadersOption,
        timeout: float | None,
        idle_timeout: float | None,
        retry_attempts: int,
        retry_wait: RetryWait | None,
        max_response_size: int,
        session: aiohttp.ClientSession | None,
        resume: bool,
    ) -> HTTPClientOptions:
        check_http_url(url)
        if headers is not None and not (isinstance(headers, Mapping) or callable(headers)):
            raise TypeError(f"headers must be a dict or a function returning one, got {headers!r}")
        if retry_wait is not None and not callable(retry_wait):
            raise TypeError(f"retry_wait must be callable, got {retry_wait!r}")
        if isinstance(max_response_size, bool) or not isinstance(max_response_size, int):
            raise TypeError(f"max_response_size must be an int, got {max_response_size!r}")
        if max_response_size <= 0:
            raise ValueError(f"max_response_size must be > 0, got {max_response_size!r}")
        return cls(
            url=url,
            headers=dict(headers) if isinstance(headers, Mapping) else headers,
            timeout=_seconds("timeout", timeout),
            idle_timeout=_seconds("idle_timeout", idle_timeout),
            retry_attempts=_retry_attempts(retry_attempts),
            retry_wait=retry_wait if retry_wait is not None else exponential_backoff,
            max_response_size=max_response_size,
            session=session,
            resume=bool(resume),
        )
