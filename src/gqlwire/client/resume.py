"""What both clients do to resume a subscription: keep its last cursor, send it back.

A server whose subscription reads a broker with history gives each result an
``extensions.cursor`` (an opaque string, the position of that event). After a reconnect
the client subscribes again with ``extensions.cursor`` set to the last one it received,
and the server starts after it. When the server could not (the events were gone), the
first result after resuming carries ``extensions.gap``; the client still hands it to the
caller, and logs a warning so that a gap is never silent. Pure functions, no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["CURSOR", "GAP", "result_cursor", "warn_if_gap", "with_cursor"]

CURSOR: Final = "cursor"
"""The key of a result's and a request's ``extensions`` that holds a cursor."""
GAP: Final = "gap"
"""The key of a result's ``extensions`` that reports events a resume could not deliver."""


def _extensions(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    extensions = payload.get("extensions")
    return extensions if isinstance(extensions, Mapping) else {}


def result_cursor(payload: Mapping[str, Any]) -> str | None:
    """The cursor of a result payload; None when it has none (or not a string: the
    contract's cursors are strings, and anything else would be sent back wrongly)."""
    cursor = _extensions(payload).get(CURSOR)
    return cursor if isinstance(cursor, str) else None


def with_cursor(payload: dict[str, Any], cursor: str | None) -> dict[str, Any]:
    """The request `payload` with ``extensions.cursor`` set to `cursor`, keeping the
    caller's other extensions; `payload` itself when there is no cursor."""
    if cursor is None:
        return payload
    extensions = payload.get("extensions")
    merged = dict(extensions) if isinstance(extensions, Mapping) else {}
    merged[CURSOR] = cursor
    return {**payload, "extensions": merged}


def warn_if_gap(
    logger: logging.Logger, payload: Mapping[str, Any], operation: str, request: Mapping[str, Any]
) -> None:
    """Log one WARNING if the result `payload` reports a gap. `operation` names the
    operation to the reader (its id); `request` is its payload (for its name)."""
    gap = _extensions(payload).get(GAP)
    if gap is None:
        return
    details: Mapping[str, Any] = gap if isinstance(gap, Mapping) else {}
    name = request.get("operationName")
    named = f"{operation} ({name})" if isinstance(name, str) and name else operation
    logger.warning(
        "gqlwire client: subscription %s resumed with a gap: events of topic %r after "
        "cursor %r were not delivered (reason: %s)",
        named,
        details.get("topic"),
        details.get("after"),
        details.get("reason", gap if not isinstance(gap, Mapping) else None),
    )
