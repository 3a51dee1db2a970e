"""When the client reconnects, and how long it waits first.

:func:`decide` turns how a connection attempt ended (a :class:`ConnectionEnd`) into a
:class:`Decision`, with the reference client's rules (npm graphql-ws
``shouldRetryConnectOrThrow``) and one deliberate difference; both are described in
docs/client.md ("Deciding to reconnect").
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Final

from ..protocol.codes import STANDARD_CLOSE_CODES, CloseCode
from .errors import ClientError, ConnectionClosed

__all__ = [
    "FATAL_CLOSE_CODES",
    "RETRIED_STANDARD_CODES",
    "ConnectionEnd",
    "Decision",
    "decide",
    "exponential_backoff",
    "is_fatal_close_code",
]

FATAL_CLOSE_CODES: Final = frozenset(
    {
        CloseCode.INTERNAL_SERVER_ERROR,
        CloseCode.INTERNAL_CLIENT_ERROR,
        CloseCode.BAD_REQUEST,
        CloseCode.BAD_RESPONSE,
        CloseCode.UNAUTHORIZED,
        # FORBIDDEN (4403) is retried: on_connect may accept the same client later
        # (a token refreshed by connection_params, a ban lifted).
        CloseCode.SUBPROTOCOL_NOT_ACCEPTABLE,
        # CONNECTION_INITIALISATION_TIMEOUT (4408) is retried: a busy server, or a slow
        # connection_params, may be in time on the next attempt.
        # CONNECTION_ACKNOWLEDGEMENT_TIMEOUT (4504) is retried for the same reason.
        # TERMINATED (4499) is retried: a frozen socket, not a refusal.
        CloseCode.SUBSCRIBER_ALREADY_EXISTS,
        CloseCode.TOO_MANY_INITIALISATION_REQUESTS,
    }
)
"""graphql-ws's codes that mean the same connection would fail the same way again."""

RETRIED_STANDARD_CODES: Final = frozenset(
    {
        CloseCode.NORMAL_CLOSURE,  # see decide(): at once after an ack, else an attempt
        CloseCode.GOING_AWAY,  # the server is stopping; another may take its place
        CloseCode.NO_STATUS_RECEIVED,  # a close without a code: no reason to give up
        CloseCode.ABNORMAL_CLOSURE,  # the connection dropped: the network, a restart
        CloseCode.SERVICE_RESTART,  # the server said it is coming back
        CloseCode.TRY_AGAIN_LATER,  # the server said so (too many connections, slow consumer)
        CloseCode.BAD_GATEWAY,  # a proxy lost its upstream, which may come back
    }
)
"""The RFC 6455 codes that are retried; every other code in that range is fatal (a
protocol error, invalid data, a policy violation, a message too big, a server error:
the same connection would end the same way)."""


def is_fatal_close_code(code: int) -> bool:
    """True for the close codes the reference client never retries."""
    if code in FATAL_CLOSE_CODES:
        return True
    return code in STANDARD_CLOSE_CODES and code not in RETRIED_STANDARD_CODES


def exponential_backoff(retries: int) -> float:
    """The default ``retry_wait``: ``2**retries`` seconds plus 0.3-3 s of random jitter
    (the reference client's randomised exponential back-off)."""
    return float(2**retries) + random.uniform(0.3, 3.0)


@dataclass(frozen=True, slots=True)
class ConnectionEnd:
    """How one connection attempt ended.

    ``code`` is the close code (``None``: no WebSocket was opened); ``error`` is what
    the operations raise if this ends them (default: ``ConnectionClosed(code,
    reason)``); ``fatal`` forbids a retry whatever the code; ``retryable`` allows one
    when no WebSocket was opened.
    """

    code: int | None
    reason: str = ""
    acknowledged: bool = False
    error: ClientError | None = None
    fatal: bool = False
    retryable: bool = False

    def exception(self) -> ClientError:
        if self.error is not None:
            return self.error
        code = self.code if self.code is not None else CloseCode.ABNORMAL_CLOSURE
        return ConnectionClosed(code, self.reason)


class Decision(enum.Enum):
    STOP = "stop"  # nothing needs a connection: end quietly
    RECONNECT = "reconnect"  # at once, not counted as a retry
    RETRY = "retry"  # after retry_wait(retries)
    FAIL = "fail"  # the operations raise end.exception()


def decide(end: ConnectionEnd, *, wanted: bool, retries: int, retry_attempts: int) -> Decision:
    """What to do after `end`; `wanted`: something still needs a connection;
    `retries`: reconnections tried since the last acknowledgement."""
    if end.fatal or (end.code is not None and is_fatal_close_code(end.code)):
        return Decision.FAIL
    if not wanted:
        return Decision.STOP
    if end.code == CloseCode.NORMAL_CLOSURE and end.acknowledged:
        return Decision.RECONNECT
    if end.code is None and not end.retryable:
        return Decision.FAIL
    if retry_attempts <= 0 or retries >= retry_attempts:
        return Decision.FAIL
    return Decision.RETRY
