"""The context every hook receives, on every transport, and how hooks are called.

One family of types, so that a hook is written once: :class:`Context` holds what every
transport knows (the handshake's or request's headers and cookies, the server's own
request object or ASGI scope, a ``state`` dict for the application);
:class:`ConnectionContext` adds a WebSocket's protocol state and :class:`HTTPContext`
an HTTP request's method and the response the application may adjust.

Idle WebSocket connections are many, so nothing here is computed before a hook asks:
headers are decoded, and cookies parsed, on first use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Final, Literal, Protocol

from .protocol import CloseCode, OperationId

TransportName = Literal["websocket", "http", "sse", "multipart"]
"""What carries an operation: :attr:`Context.transport`."""

RawHeaders = Iterable[tuple[str | bytes, str | bytes]] | Mapping[str, str]
"""Header name and value pairs as a server gives them: ``str`` (aiohttp's multidict,
a mapping whose ``items()`` are the pairs) or latin-1 ``bytes`` (ASGI), names in any
case, a repeated header once per value."""


class Headers(Mapping[str, str]):
    """The headers of an HTTP request or of a WebSocket handshake: read-only, with
    case-insensitive names.

    A header sent more than once reads as its values joined with ``", "`` (``"; "`` for
    ``Cookie``, which HTTP/2 splits into several). The pairs are decoded on first use.
    """

    __slots__ = ("_raw", "_table")

    def __init__(self, raw: RawHeaders = ()) -> None:
        self._raw = raw
        self._table: dict[str, str] | None = None

    def _values(self) -> dict[str, str]:
        table = self._table
        if table is None:
            table = {}
            raw = self._raw
            # aiohttp's headers, kept as they are (a view of their items would be one
            # more object per connection), or pairs.
            pairs = raw.items() if isinstance(raw, Mapping) else raw
            for raw_name, raw_value in pairs:
                name = _text(raw_name).lower()
                value = _text(raw_value)
                previous = table.get(name)
                if previous is None:
                    table[name] = value
                else:
                    table[name] = f"{previous}{'; ' if name == 'cookie' else ', '}{value}"
            self._table = table
            self._raw = ()
        return table

    def __getitem__(self, name: str) -> str:
        return self._values()[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values()

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())

    def __repr__(self) -> str:
        return f"Headers({self._values()!r})"


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else bytes(value).decode("latin-1")


def parse_cookies(header: str | None) -> dict[str, str]:
    """The cookies of a ``Cookie`` header, by name (RFC 6265 §5.4).

    Never raises: a pair without ``=`` or without a name is skipped, surrounding double
    quotes are removed from a value, nothing else is decoded. When a name repeats, the
    first value wins (browsers send the cookie with the most specific path first).
    """
    cookies: dict[str, str] = {}
    if not header:
        return cookies
    for pair in header.split(";"):
        name, equals, value = pair.partition("=")
        name = name.strip()
        if not equals or not name or name in cookies:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies[name] = value
    return cookies


class Context:
    """What a hook or a ``context`` function knows about where an operation came from.

    The same attributes on every transport, so that one ``on_connect`` guards them all.
    """

    __slots__ = ("_cookies", "_extra", "_headers", "_origin", "_origin_name", "_state")

    transport: ClassVar[TransportName]
    """``"websocket"``, ``"http"``, ``"sse"`` or ``"multipart"``."""

    def __init__(
        self, extra: dict[str, Any] | tuple[str, Any], headers: Headers | RawHeaders
    ) -> None:
        """``extra``: the dict :attr:`extra` is, or the one ``(name, value)`` pair it
        holds, made a dict on first use (the adapters give ``("scope", scope)`` or
        ``("request", request)``: idle connections are many, and most hooks read
        :attr:`scope` or :attr:`request`, if anything). ``headers``: a
        :class:`Headers`, or the server's own pairs, wrapped on first use, likewise."""
        self._extra: dict[str, Any] | None
        self._origin_name: str | None
        if isinstance(extra, tuple):
            self._extra = None
            self._origin_name, self._origin = extra
        else:
            self._extra, self._origin_name, self._origin = extra, None, None
        # Made on first use: most connections' hooks never touch it, and idle
        # connections are many.
        self._state: dict[str, Any] | None = None
        self._headers = headers
        self._cookies: dict[str, str] | None = None

    @property
    def extra(self) -> dict[str, Any]:
        """Transport details: ``{"scope": ...}`` on ASGI, ``{"request": ...}`` on aiohttp
        (free for the application to add to, too)."""
        extra = self._extra
        if extra is None:
            name = self._origin_name
            extra = self._extra = {} if name is None else {name: self._origin}
            self._origin_name = self._origin = None
        return extra

    @extra.setter
    def extra(self, value: dict[str, Any]) -> None:
        self._extra = value
        self._origin_name = self._origin = None

    def _transport_detail(self, name: str) -> Any:
        extra = self._extra
        if extra is not None:
            return extra.get(name)
        return self._origin if self._origin_name == name else None

    @property
    def state(self) -> dict[str, Any]:
        """Free for the application: per connection on WebSocket, per request on HTTP."""
        state = self._state
        if state is None:
            state = self._state = {}
        return state

    @state.setter
    def state(self, value: dict[str, Any]) -> None:
        self._state = value

    @property
    def headers(self) -> Headers:
        """The HTTP request's, or the WebSocket handshake's, headers (case-insensitive)."""
        headers = self._headers
        if not isinstance(headers, Headers):
            headers = self._headers = Headers(headers)
        return headers

    @property
    def cookies(self) -> dict[str, str]:
        """The cookies of the ``Cookie`` header (see :func:`parse_cookies`)."""
        cookies = self._cookies
        if cookies is None:
            cookies = self._cookies = parse_cookies(self.headers.get("cookie"))
        return cookies

    @property
    def request(self) -> Any:
        """The server's own request object (aiohttp's ``web.Request``), else ``None``."""
        return self._transport_detail("request")

    @property
    def scope(self) -> Any:
        """The ASGI scope on ASGI servers, else ``None``."""
        return self._transport_detail("scope")

    @property
    def connection_params(self) -> dict[str, Any] | None:
        """The ``connection_init`` payload on WebSocket (when it was an object); ``None``
        on HTTP."""
        return None


class WebSocketConnection(Protocol):
    """What a :class:`ConnectionContext` reads of its connection (the runtime in
    :mod:`gqlwire.connection` implements it): read live, never copied."""

    @property
    def protocol(self) -> str | None: ...

    @property
    def connection_init_received(self) -> bool: ...

    @property
    def acknowledged(self) -> bool: ...

    @property
    def connection_params(self) -> dict[str, Any] | None: ...

    @property
    def operations(self) -> Mapping[OperationId, Any]: ...

    async def close(self, code: int, reason: str) -> None: ...


class ConnectionContext(Context):
    """A WebSocket connection (graphql-ws's ``ctx``, in snake_case).

    The protocol state (``connection_init_received``, ``acknowledged``) is read live
    from the connection, so a hook always sees the current truth.
    """

    __slots__ = ("_connection",)

    transport: ClassVar[TransportName] = "websocket"

    def __init__(
        self,
        connection: WebSocketConnection,
        extra: dict[str, Any] | tuple[str, Any],
        headers: Headers | RawHeaders | None = None,
    ) -> None:
        super().__init__(extra, headers if headers is not None else _NO_HEADERS)
        self._connection = connection

    @property
    def protocol(self) -> str | None:
        """The negotiated subprotocol, or ``None`` when the client offered none we speak."""
        return self._connection.protocol

    @property
    def connection_init_received(self) -> bool:
        return self._connection.connection_init_received

    @property
    def acknowledged(self) -> bool:
        return self._connection.acknowledged

    @property
    def connection_params(self) -> dict[str, Any] | None:
        """The ``connection_init`` payload, when it was an object."""
        return self._connection.connection_params

    @property
    def subscriptions(self) -> Mapping[OperationId, Any]:
        """The operations running on this connection, by id (read-only)."""
        return MappingProxyType(self._connection.operations)

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Close the connection from application code (token expiry, bans...)."""
        await self._connection.close(code, reason)

    def detach(self) -> None:
        """Called by the connection once it has ended (its last hook returned): the
        context keeps what it reads as the connection left it, and no longer refers to
        the connection, so that the two are freed by reference counting, not by a
        garbage collection that may run much later."""
        self._connection = _EndedConnection(self._connection)

    def __repr__(self) -> str:
        return (
            f"<ConnectionContext protocol={self.protocol!r} "
            f"acknowledged={self.acknowledged} operations={len(self._connection.operations)}>"
        )


class _EndedConnection:
    """What a :class:`ConnectionContext` reads of a connection that has ended: its
    final state, copied once; it runs nothing and closes nothing."""

    __slots__ = ("acknowledged", "connection_init_received", "connection_params", "protocol")

    operations: Mapping[OperationId, Any] = MappingProxyType({})

    def __init__(self, connection: WebSocketConnection) -> None:
        self.protocol = connection.protocol
        self.connection_init_received = connection.connection_init_received
        self.acknowledged = connection.acknowledged
        self.connection_params = connection.connection_params

    async def close(self, code: int, reason: str) -> None:
        pass  # already closed


class HTTPContext(Context):
    """One GraphQL-over-HTTP request: ``on_connect`` runs once for it, then its one
    operation."""

    __slots__ = ("method", "response")

    transport: ClassVar[TransportName] = "http"

    def __init__(self, method: str, headers: Headers, extra: dict[str, Any]) -> None:
        super().__init__(extra, headers)
        self.method = method
        """Upper case."""
        self.response = HTTPResponseDraft()
        """What the application sets on the response (status, headers, cookies)."""

    def __repr__(self) -> str:
        return f"<HTTPContext method={self.method!r}>"


_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_COOKIE_OCTETS: Final = r"[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*"
_COOKIE_VALUE: Final = re.compile(rf'{_COOKIE_OCTETS}|"{_COOKIE_OCTETS}"')
_ATTRIBUTE_VALUE: Final = re.compile(r"[\x20-\x3A\x3C-\x7E]*")
_HEADER_VALUE: Final = re.compile(r"[\t\x20-\x7E\x80-\xFF]*")
_SAME_SITE: Final = {"strict": "Strict", "lax": "Lax", "none": "None"}


class HTTPResponseDraft:
    """What the application sets on an HTTP response before gqlwire sends it.

    ``status_code`` (when not ``None``) replaces the status gqlwire chose; ``headers``
    are added to the response, replacing gqlwire's own of the same name; each
    :meth:`set_cookie` adds a ``Set-Cookie`` header. They apply to every response once
    ``on_connect`` has run (a refusal included, so a hook may answer 401 with a
    ``WWW-Authenticate`` header), except a 500 for an exception, which drops them.
    """

    __slots__ = ("cookies", "headers", "status_code")

    def __init__(self) -> None:
        self.status_code: int | None = None
        self.headers: dict[str, str] = {}
        self.cookies: dict[str, str] = {}
        """The ``Set-Cookie`` values, by cookie name (a name set twice: the last wins)."""

    def set_cookie(
        self,
        name: str,
        value: str,
        *,
        max_age: int | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = None,
    ) -> None:
        """Set a cookie on the response (RFC 6265). Raises ``ValueError`` for a name,
        value or attribute that a ``Set-Cookie`` header cannot carry."""
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"Invalid cookie name {name!r}")
        if not _COOKIE_VALUE.fullmatch(value):
            raise ValueError(f"Invalid value for cookie {name!r}: {value!r}")
        parts = [f"{name}={value}"]
        if max_age is not None:
            parts.append(f"Max-Age={int(max_age)}")
        for attribute, given in (("Path", path), ("Domain", domain)):
            if given is not None:
                if not _ATTRIBUTE_VALUE.fullmatch(given):
                    raise ValueError(f"Invalid {attribute} for cookie {name!r}: {given!r}")
                parts.append(f"{attribute}={given}")
        if secure:
            parts.append("Secure")
        if httponly:
            parts.append("HttpOnly")
        if samesite is not None:
            same_site = _SAME_SITE.get(samesite.lower())
            if same_site is None:
                raise ValueError(f"samesite must be 'strict', 'lax' or 'none', not {samesite!r}")
            parts.append(f"SameSite={same_site}")
        self.cookies[name] = "; ".join(parts)

    def is_empty(self) -> bool:
        return self.status_code is None and not self.headers and not self.cookies

    def merged_into(
        self, status: int, headers: list[tuple[str, str]]
    ) -> tuple[int, list[tuple[str, str]]]:
        """The status and headers of a response with this draft applied (header names in
        lower case). Raises ``ValueError`` for what an HTTP response cannot carry: a
        status outside 100-599, a header name that is not a token, a value with a line
        break or beyond latin-1, or ``Content-Length`` (the server's to set)."""
        if self.status_code is not None:
            code = self.status_code
            if not isinstance(code, int) or isinstance(code, bool) or not 100 <= code <= 599:
                raise ValueError(f"response.status_code must be an int in 100-599, not {code!r}")
            status = code
        added: list[tuple[str, str]] = []
        for name, value in self.headers.items():
            if not isinstance(name, str) or not _TOKEN.fullmatch(name):
                raise ValueError(f"Invalid response header name {name!r}")
            if name.lower() == "content-length":
                raise ValueError("response.headers cannot set Content-Length")
            if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
                raise ValueError(f"Invalid value for response header {name!r}: {value!r}")
            added.append((name.lower(), value))
        replaced = {name for name, _ in added}
        merged = [(name, value) for name, value in headers if name.lower() not in replaced]
        merged += added
        merged += [("set-cookie", value) for value in self.cookies.values()]
        return status, merged

    def __repr__(self) -> str:
        return (
            f"<HTTPResponseDraft status_code={self.status_code!r} headers={self.headers!r} "
            f"cookies={list(self.cookies)!r}>"
        )


_NO_HEADERS: Final = Headers()
