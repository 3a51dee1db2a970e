"""When the client reconnects, and how long it waits first.

The rules are the reference client's (npm graphql-ws ``shouldRetryConnectOrThrow``),
decided from how a connection ended (an :class:`Outcome`) so they can be tested with
plain calls:

1. Fatal close codes are never retried: 4500, 4005, 4400, 4004, 4401, 4406, 4409, 4429,
   and 1000-1999 except 1000, 1001, 1005, 1006, 1012, 1013 and 1014. 4403 (refused by
   ``on_connect``), 4408 (init timeout), 4504 (ack timeout) and 4499 (keep-alive timeout)
   are retried: they may pass next time.
2. Nothing is retried once nothing needs the connection (a lazy client with no
   operation left).
3. A 1000 close of an acknowledged connection while operations are active (the server
   restarted them, or our own lazy close raced a new operation) reconnects at once,
   without a wait and without counting against ``retry_attempts``. The reference does
   this for any 1000; a 1000 *before* the acknowledgement counts as a failed attempt
   here, so a server that always closes 1000 cannot make the client spin.
4. Otherwise up to ``retry_attempts`` reconnections (the count restarts at every
   acknowledgement), each after ``retry_wait(retries)``.

One deliberate difference: the reference never retries a connection that could not be
opened at all (refused TCP, an HTTP error instead of the upgrade). Here that is fatal
for the first connection (a wrong URL fails at once), but retried while reconnecting,
where it is what a restarting server looks like.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Final

from .errors import ClientError, ConnectionClosed

__all__ = ["Decision", "Outcome", "decide", "exponential_backoff", "is_fatal_close_code"]

_RETRIED_INTERNAL_CODES: Final = frozenset({1000, 1001, 1005, 1006, 1012, 1013, 1014})
_FATAL_CODES: Final = frozenset({4500, 4005, 4400, 4004, 4401, 4406, 4409, 4429})


def is_fatal_close_code(code: int) -> bool:
    """True for the close codes the reference client never retries."""
    if code in _FATAL_CODES:
        return True
    return 1000 <= code <= 1999 and code not in _RETRIED_INTERNAL_CODES


def exponential_backoff(retries: int) -> float:
    """The default ``retry_wait``: ``2**retries`` seconds plus 0.3-3 s of random jitter
    (the reference client's randomised exponential back-off)."""
    return float(2**retries) + random.uniform(0.3, 3.0)


@dataclass(frozen=True, slots=True)
class Outcome:
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
        return ConnectionClosed(self.code if self.code is not None else 1006, self.reason)


class Decision(enum.Enum):
    STOP = "stop"  # nothing needs a connection: end quietly
    RECONNECT = "reconnect"  # at once, not counted as a retry
    RETRY = "retry"  # after retry_wait(retries)
    FAIL = "fail"  # the operations raise outcome.exception()


def decide(outcome: Outcome, *, wanted: bool, retries: int, retry_attempts: int) -> Decision:
    """What to do after `outcome`; `wanted`: something still needs a connection;
    `retries`: reconnections tried since the last acknowledgement."""
    if outcome.fatal or (outcome.code is not None and is_fatal_close_code(outcome.code)):
        return Decision.FAIL
    if not wanted:
        return Decision.STOP
    if outcome.code == 1000 and outcome.acknowledged:
        return Decision.RECONNECT
    if outcome.code is None and not outcome.retryable:
        return Decision.FAIL
    if retry_attempts <= 0 or retries >= retry_attempts:
        return Decision.FAIL
    return Decision.RETRY
