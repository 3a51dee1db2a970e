"""What the client raises.

Every exception derives from :class:`ClientError`. Where an operation fails because its
connection failed, every operation of that connection gets its own copy of the
exception (see :func:`copy_error`), so tracebacks of concurrent consumers never mix.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

from ..protocol.codes import REASONS, CloseCode

__all__ = [
    "BadResponse",
    "ClientClosed",
    "ClientError",
    "ConnectionAckTimeout",
    "ConnectionClosed",
    "ConnectionFailed",
    "ConnectionLost",
    "ConnectionRejected",
    "GraphQLErrors",
    "HTTPStatusError",
    "RequestTimeout",
]


class ClientError(Exception):
    """Base class of every error of :class:`gqlwire.Client`."""


class GraphQLErrors(ClientError):
    """The server ended an operation with an ``error`` message.

    ``errors`` is the list of GraphQL error objects as the server sent them (on the
    legacy protocol, whose ``error`` payload is a single object, a list of that one).
    Errors that come inside a result (``{"data": ..., "errors": [...]}``) are not raised:
    that result is yielded or returned as it is.
    """

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors

    def __str__(self) -> str:
        messages = [str(error.get("message", error)) for error in self.errors]
        return "; ".join(messages) or "GraphQL error"


class ConnectionClosed(ClientError):
    """The WebSocket closed in a way that ends the operations: a close code that is not
    retried, or a retried one after ``retry_attempts`` reconnections failed."""

    def __init__(self, code: int, reason: str = "") -> None:
        # A plain int, whether the code came from the wire or from CloseCode: what the
        # exception shows (args, repr) does not depend on where the code was named.
        code = int(code)
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"connection closed: {self.code} {self.reason}".rstrip()


class ConnectionAckTimeout(ConnectionClosed):
    """The server did not acknowledge ``connection_init`` within
    ``connection_ack_timeout``; the client closed with 4504."""

    def __init__(
        self,
        code: int = CloseCode.CONNECTION_ACKNOWLEDGEMENT_TIMEOUT,
        reason: str = REASONS[CloseCode.CONNECTION_ACKNOWLEDGEMENT_TIMEOUT],
    ) -> None:
        super().__init__(code, reason)


class BadResponse(ConnectionClosed):
    """The server sent a message that breaks the protocol; the client closed with 4004.

    ``reason`` is what the close frame carried (the problem, or ``Bad response`` when
    that does not fit in a close frame); ``detail`` is the whole description.
    """

    def __init__(
        self,
        code: int = CloseCode.BAD_RESPONSE,
        reason: str = REASONS[CloseCode.BAD_RESPONSE],
        detail: str = "",
    ) -> None:
        super().__init__(code, reason)
        self.detail = detail or reason

    def __str__(self) -> str:
        return f"bad response from the server: {self.detail}"


class ConnectionFailed(ClientError):
    """No WebSocket could be opened: the connection was refused, the handshake was
    answered with an HTTP error (``status``), or the server did not accept the
    subprotocol. Over HTTP: the connection was refused, or (as its kind
    :class:`HTTPStatusError`) the server answered with an HTTP error."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message, status)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message


class ConnectionLost(ConnectionClosed):
    """Over HTTP (:class:`~gqlwire.client.HTTPClient`): the connection ended before the
    response did, or an event stream ended before its ``complete`` event (the server
    went away, a proxy cut the stream). It is a :class:`ConnectionClosed` with code 1006
    (Abnormal Closure), what a WebSocket that drops reports, so that one ``except``
    covers both transports; ``detail`` says what happened."""

    def __init__(
        self,
        detail: str = "",
        code: int = CloseCode.ABNORMAL_CLOSURE,
        reason: str = "connection lost",
    ) -> None:
        super().__init__(code, reason)
        self.detail = detail or reason

    def __str__(self) -> str:
        return f"connection lost: {self.detail}"


class HTTPStatusError(ConnectionFailed):
    """Over HTTP: the server answered with a status that carries no GraphQL result and no
    request error: 401, 403, 404, 405, 406, 413, 415, 426, 429, 5xx... (400 and 422
    with GraphQL ``errors`` are request errors, raised as :class:`GraphQLErrors`).

    ``status`` is the status code, ``errors`` the GraphQL errors of the body when it had
    some (a gqlwire server's 403 ``Forbidden`` or 500 ``Internal server error``), and
    ``body`` the start of the body as text. A :class:`ConnectionFailed`, as a WebSocket
    handshake answered with an HTTP error is."""

    def __init__(
        self,
        message: str,
        status: int,
        *,
        body: str = "",
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, status)
        self.status: int = status
        self.body = body
        self.errors = errors


class RequestTimeout(ClientError):
    """Over HTTP: no response within ``timeout`` seconds (for an event stream: before
    the stream opened)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConnectionRejected(ClientError):
    """A legacy ``graphql-ws`` server refused ``connection_init`` with
    ``connection_error``; ``payload`` is what it sent (usually ``{"message": ...}``).

    On ``graphql-transport-ws`` a refusal is a close with 4403, raised as
    :class:`ConnectionClosed`."""

    def __init__(self, payload: Any) -> None:
        super().__init__(payload)
        self.payload = payload

    def __str__(self) -> str:
        if isinstance(self.payload, dict) and "message" in self.payload:
            return f"connection rejected: {self.payload['message']}"
        return f"connection rejected: {self.payload!r}"


class ClientClosed(ClientError):
    """The client is closed: raised by ``subscribe()``/``execute()`` called after
    ``close()``, and by an ``execute()`` still waiting when the client closed."""

    def __init__(self, message: str = "the client is closed") -> None:
        super().__init__(message)


_E = TypeVar("_E", bound=BaseException)


def copy_error(error: _E) -> _E:
    """A fresh instance of `error` with the same attributes and cause."""
    duplicate = copy.copy(error)
    duplicate.__cause__ = error.__cause__
    duplicate.__traceback__ = None
    return duplicate
