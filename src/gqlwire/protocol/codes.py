"""Subprotocol names, every close code gqlwire sends or reasons about, and the fixed
reason texts that go with them.

This module is the one home of close codes: the protocol machines, the runtime, the
server adapters and the client all name a code through :class:`CloseCode`, never with
a bare number, and all bound a close reason with :func:`limit_close_reason`.

The numbers and texts are the ones the reference (npm ``graphql-ws``, server and client)
puts on the wire, so that peers written against it see exactly what they expect.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

GRAPHQL_TRANSPORT_WS: Final = "graphql-transport-ws"
"""The current protocol (npm ``graphql-ws``)."""

GRAPHQL_WS: Final = "graphql-ws"
"""The legacy protocol of ``subscriptions-transport-ws``."""

# RFC 6455 §5.5: a control frame carries at most 125 bytes; two are the close code.
MAX_CLOSE_REASON_BYTES: Final = 123
INTERNAL_SERVER_ERROR_REASON: Final = "Internal server error"


class CloseCode(IntEnum):
    """Every close code that either side of gqlwire sends, records or decides on.

    Codes below 2000 are RFC 6455's (and its IANA registry's), the 4xxx codes are
    graphql-ws's, named as graphql-ws names them. "Server" and "client" say which side
    of gqlwire sends a code; 1005 and 1006 are never sent by anyone (RFC 6455 reserves
    them for reporting a close that carried no code).
    """

    # Both: done (ctx.close(), legacy connection_terminate, client close(), ASGI refusal).
    NORMAL_CLOSURE = 1000
    # Server: shutdown (close_all()) and a ping left unanswered; the client retries it.
    GOING_AWAY = 1001
    # Client: the server accepted a subprotocol other than the one asked for.
    PROTOCOL_ERROR = 1002
    # Never sent: how an ASGI server reports a close frame that carried no code.
    NO_STATUS_RECEIVED = 1005
    # Never sent: the connection ended without a close frame (either side records it).
    ABNORMAL_CLOSURE = 1006
    # Sent by the WebSocket layer under gqlwire for a text frame that is not UTF-8.
    INVALID_FRAME_PAYLOAD_DATA = 1007
    # Server: more messages than max_messages_per_second allows.
    POLICY_VIOLATION = 1008
    """More messages than ``max_messages_per_second`` allows (RFC 6455's code for a
    message that breaks the endpoint's policy; 4429 is taken by repeated inits)."""
    # Server: a frame over max_message_size (the WebSocket layer may send it first).
    MESSAGE_TOO_BIG = 1009
    # Server: the legacy protocol's hard errors, and a failure of the runtime itself.
    INTERNAL_ERROR = 1011
    # Sent by a restarting server (uvicorn's own shutdown); the client retries it.
    SERVICE_RESTART = 1012
    # Server: too many connections, or a slow consumer given up on; the client retries it.
    TRY_AGAIN_LATER = 1013
    # Sent by a proxy whose upstream failed; the client retries it.
    BAD_GATEWAY = 1014
    # Client: the server sent a message that breaks the protocol.
    BAD_RESPONSE = 4004
    # Client: the client itself failed (connection_params raised).
    INTERNAL_CLIENT_ERROR = 4005
    # Server: a message that breaks the protocol's schema.
    BAD_REQUEST = 4400
    """Also an operation id longer than ``MAX_OPERATION_ID_LENGTH`` characters and a
    ``ping`` payload over ``MAX_PING_PAYLOAD_BYTES``: gqlwire's message schema is the
    reference's plus these two bounds, and breaking it gets the reference's answer."""
    # Server: a subscribe before the connection was acknowledged.
    UNAUTHORIZED = 4401
    # Server: on_connect refused the connection; the client retries it.
    FORBIDDEN = 4403
    # Server: the client offered no subprotocol the server speaks.
    SUBPROTOCOL_NOT_ACCEPTABLE = 4406
    # Server: no connection_init within connection_init_wait_timeout.
    CONNECTION_INITIALISATION_TIMEOUT = 4408
    # Server: a subscribe with the id of an operation still running.
    SUBSCRIBER_ALREADY_EXISTS = 4409
    # Server: a second connection_init.
    TOO_MANY_INITIALISATION_REQUESTS = 4429
    """A second ``connection_init``, on both subprotocols (the legacy one sends a
    ``connection_error`` first)."""
    # Client: the server left a ping unanswered (graphql-ws's "Terminated").
    TERMINATED = 4499
    # Server: an exception in application code (a hook, execute), or a syntax error.
    INTERNAL_SERVER_ERROR = 4500
    # Client: no connection_ack within connection_ack_timeout.
    CONNECTION_ACKNOWLEDGEMENT_TIMEOUT = 4504


STANDARD_CLOSE_CODES: Final = range(1000, 2000)
"""The codes RFC 6455 and its registry assign; the client retries only the few of them
that describe a passing condition (see :mod:`gqlwire.client.retry`)."""

# The reason texts that are fixed (4409 and 4500 are built per case; the codes not
# listed go out with an empty reason unless their sender gives one).
REASONS: Final[dict[int, str]] = {
    CloseCode.BAD_REQUEST: "Invalid message received",
    CloseCode.UNAUTHORIZED: "Unauthorized",
    CloseCode.FORBIDDEN: "Forbidden",
    CloseCode.SUBPROTOCOL_NOT_ACCEPTABLE: "Subprotocol not acceptable",
    CloseCode.CONNECTION_INITIALISATION_TIMEOUT: "Connection initialisation timeout",
    CloseCode.TOO_MANY_INITIALISATION_REQUESTS: "Too many initialisation requests",
    CloseCode.MESSAGE_TOO_BIG: "Message too big",
    CloseCode.GOING_AWAY: "Going away",
    CloseCode.NORMAL_CLOSURE: "Normal Closure",
    CloseCode.POLICY_VIOLATION: "Too many messages",
    # The client's: each is also the fallback when a more precise reason is too long.
    CloseCode.BAD_RESPONSE: "Bad response",
    CloseCode.INTERNAL_CLIENT_ERROR: "Internal client error",
    CloseCode.TERMINATED: "Keep-alive timeout",
    CloseCode.CONNECTION_ACKNOWLEDGEMENT_TIMEOUT: "Connection acknowledgement timeout",
}


def limit_close_reason(reason: str, fallback: str = INTERNAL_SERVER_ERROR_REASON) -> str:
    """Return ``reason`` if it fits in a close frame, else ``fallback`` (the server's
    generic 4500 text unless the caller, the client, names its own).

    graphql-ws measures in UTF-16 units (``reason.length < 124``); the wire limit is in
    UTF-8 bytes, so measuring bytes is the correct form of the same rule. The fallback
    is not measured: callers pass one of the short fixed texts.
    """
    if len(reason.encode("utf-8")) > MAX_CLOSE_REASON_BYTES:
        return fallback
    return reason
