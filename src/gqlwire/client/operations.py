"""The client's active operations: ids, payloads, and the queue each consumer reads.

Registering and removing are plain synchronous calls, so that in a single event-loop
step an operation is either active (it will be subscribed on the next connection, and
it keeps a lazy connection open) or gone; no await can leave it half-registered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import copy_error
from .protocol import Completed, Errors, Result
from .resume import with_cursor

__all__ = ["ClientClosing", "Failed", "Operation", "OperationEvent", "OperationRegistry"]


@dataclass(frozen=True, slots=True)
class Failed:
    """The connection failed for good; the consumer raises ``error``."""

    error: BaseException


@dataclass(frozen=True, slots=True)
class ClientClosing:
    """The client was closed while the operation was active."""


OperationEvent = Result | Errors | Completed | Failed | ClientClosing


@dataclass(eq=False)
class Operation:
    """One ``subscribe()``/``execute()`` call: its id (stable across reconnections), the
    events its consumer has not read yet, and the cursor of its last result."""

    id: str
    payload: dict[str, Any]
    events: asyncio.Queue[OperationEvent] = field(default_factory=asyncio.Queue)
    cursor: str | None = None
    """The ``extensions.cursor`` of the last result that had one: where a resubscription
    after a reconnect resumes (see :mod:`.resume`)."""

    def subscribe_payload(self, resume: bool) -> dict[str, Any]:
        """What ``subscribe`` (legacy: ``start``) sends: the payload, with the last
        cursor in its ``extensions`` when resuming."""
        return with_cursor(self.payload, self.cursor if resume else None)


class OperationRegistry:
    """Active operations by id; ids are "1", "2", ... for the client's lifetime (gql and
    the legacy client use integer strings too, and ids are never reused)."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._operations: dict[str, Operation] = {}
        self._last_id = 0
        self._on_change = on_change

    def add(self, payload: dict[str, Any]) -> Operation:
        self._last_id += 1
        operation = Operation(str(self._last_id), payload)
        self._operations[operation.id] = operation
        self._on_change()
        return operation

    def get(self, id: str) -> Operation | None:
        return self._operations.get(id)

    def remove(self, id: str) -> Operation | None:
        operation = self._operations.pop(id, None)
        if operation is not None:
            self._on_change()
        return operation

    def finish(self, id: str, event: Errors | Completed) -> None:
        """The server ended operation `id`: it is no longer active; tell its consumer."""
        operation = self.remove(id)
        if operation is not None:
            operation.events.put_nowait(event)

    def fail_all(self, error: BaseException) -> None:
        """End every operation with (a copy of) `error`."""
        operations = list(self._operations.values())
        self._operations.clear()
        for operation in operations:
            operation.events.put_nowait(Failed(copy_error(error)))
        if operations:
            self._on_change()

    def close_all(self) -> None:
        """End every operation because the client closes."""
        operations = list(self._operations.values())
        self._operations.clear()
        for operation in operations:
            operation.events.put_nowait(ClientClosing())
        if operations:
            self._on_change()

    def __iter__(self) -> Iterator[Operation]:
        return iter(list(self._operations.values()))  # a snapshot: sends happen in between

    def __len__(self) -> int:
        return len(self._operations)

    def __bool__(self) -> bool:
        return bool(self._operations)
