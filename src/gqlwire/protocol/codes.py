"""Subprotocol names, close codes and the fixed reason texts that go with them.

The numbers and texts are the ones the reference server (npm ``graphql-ws``) puts on
the wire, so that clients written against it see exactly what they expect.
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
    """Close codes the server sends, named as graphql-ws names them."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    POLICY_VIOLATION = 1008
    """More messages than ``max_messages_per_second`` allows (RFC 6455's code for a
    message that breaks the endpoint's policy; 4429 is taken by repeated inits)."""
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013
    INTERNAL_SERVER_ERROR = 4500
    BAD_REQUEST = 4400
    """Also an operation id longer than ``MAX_OPERATION_ID_LENGTH`` characters and a
    ``ping`` payload over ``MAX_PING_PAYLOAD_BYTES``: gqlwire's message schema is the
    reference's plus these two bounds, and breaking it gets the reference's answer."""
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    SUBPROTOCOL_NOT_ACCEPTABLE = 4406
    CONNECTION_INITIALISATION_TIMEOUT = 4408
    SUBSCRIBER_ALREADY_EXISTS = 4409
    TOO_MANY_INITIALISATION_REQUESTS = 4429
    """A second ``connection_init``, on both subprotocols (the legacy one sends a
    ``connection_error`` first)."""


# The reason texts that are fixed by the protocol (4409 and 4500 are built per case).
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
}


def limit_close_reason(reason: str) -> str:
    """Return ``reason`` if it fits in a close frame, else the generic 4500 text.

    graphql-ws measures in UTF-16 units (``reason.length < 124``); the wire limit is in
    UTF-8 bytes, so measuring bytes is the correct form of the same rule.
    """
    if len(reason.encode("utf-8")) > MAX_CLOSE_REASON_BYTES:
        return INTERNAL_SERVER_ERROR_REASON
    return reason
