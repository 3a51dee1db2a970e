"""How instruments (metrics, tracing) plug into a server without costing anything when
there are none.

A :class:`~gqlwire.GraphQLServer` takes ``metrics=`` and ``tracing=`` objects (from
:mod:`gqlwire.metrics` and :mod:`gqlwire.tracing`, which import their optional
libraries). When it is built, it asks each one for its :class:`Instruments`: a wrapper
around each operation's run, an HTTP route, and what to do to the connection registry.
Without any, the server runs exactly the code it runs without this module: the
operation core's one check is whether :attr:`ServerRuntime.observe` is ``None``.

This module imports no other gqlwire module at run time: the operation core and the
options can name it without a cycle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .operation import Operation
    from .server import GraphQLServer

OperationBody = Callable[[], Awaitable[None]]
"""An operation's run, without instruments."""

OperationRunner = Callable[["Operation", OperationBody], Awaitable[None]]
"""Runs ``body`` (the operation's run) for ``operation``, measuring it; must await
``body`` exactly once and let its exceptions (a cancellation above all) through."""


@dataclass(frozen=True, slots=True)
class Instruments:
    """What one instrumentation adds to a server."""

    run_operation: OperationRunner | None = None
    route: Any = None
    """An HTTP route (:class:`gqlwire.http.HTTPRoute`) the server's apps answer first."""
    path: str | None = None
    """The path ``route`` answers, which ``serve`` and ``aiohttp_app()`` route too."""


class Instrumentation(Protocol):
    """What ``GraphQLServer(metrics=..., tracing=...)`` takes."""

    def instrument(self, server: GraphQLServer) -> Instruments:
        """Called once per server built with this object (``replace()`` builds
        another): hook into ``server`` and say what else to run."""


def chain(runners: Sequence[OperationRunner]) -> OperationRunner | None:
    """One runner running ``runners`` nested, the first outermost; ``None`` for none."""
    if not runners:
        return None
    if len(runners) == 1:
        return runners[0]
    outer, inner = runners[0], chain(runners[1:])
    assert inner is not None

    async def run(operation: Operation, body: OperationBody) -> None:
        await outer(operation, lambda: inner(operation, body))

    return run
