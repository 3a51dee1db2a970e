"""Compiled plans kept per operation, and the count of which path subscriptions took.

A plan depends on the schema, the document, the operation, the variables and the
field resolver, never on the context or the root value (every event's executor is
passed to it): identical subscriptions share one plan, so a thousand clients
subscribing the same document compile it once.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Final

import orjson

from . import CompiledSubscription, NotCompiled, compile_executor

_logger: Final = logging.getLogger("gqlwire")

DEFAULT_PLANS: Final = 256
"""Compiled plans a server keeps (least recently used leave first)."""


_Entry = tuple[tuple[Any, ...], CompiledSubscription | NotCompiled]
"""What the key names (held, to compare by identity), and the plan or the refusal."""


class SubscriptionCompiler:
    """Compiles subscriptions' executors through a bounded cache, and counts."""

    __slots__ = ("_plans", "compiled", "enabled", "interpreted", "maxsize")

    def __init__(self, maxsize: int = DEFAULT_PLANS, *, enabled: bool = True) -> None:
        self.maxsize = maxsize
        self.enabled = enabled
        """With ``False`` nothing is compiled; subscriptions are only counted."""
        self._plans: OrderedDict[Hashable, _Entry] = OrderedDict()
        self.compiled = 0
        """Subscriptions (or shared groups) whose events run compiled."""
        self.interpreted = 0
        """Subscriptions whose events run on graphql-core's executor."""

    def __call__(self, executor: Any, raw_variables: Any) -> CompiledSubscription | NotCompiled:
        """The compiled plan for a subscription's ``executor``, bound to it, or why not;
        counted either way."""
        outcome = self._plan(executor, raw_variables)
        if isinstance(outcome, NotCompiled):
            self.count_interpreted(outcome.reason)
            return outcome
        self.compiled += 1
        return outcome.bound_to(executor)

    def event_executor(
        self, executor: Any, raw_variables: Any
    ) -> tuple[Any, Callable[[Any, Any], Any]] | None:
        """For :func:`~gqlwire.response_stream.open_response_stream`: the compiled
        ``(prepared, execute)`` of a subscription's events, or ``None`` (counted)."""
        if not self.enabled:
            self.count_interpreted("compile_subscriptions is off")
            return None
        if executor is None:
            self.count_interpreted("no reusable execution context")
            return None
        outcome = self(executor, raw_variables)
        if isinstance(outcome, NotCompiled):
            return None
        return outcome, CompiledSubscription.execute

    def count_interpreted(self, reason: str) -> None:
        self.interpreted += 1
        _logger.debug("subscription not compiled: %s", reason)

    def _plan(self, executor: Any, raw_variables: Any) -> CompiledSubscription | NotCompiled:
        key = _key(executor, raw_variables)
        if key is None:
            return compile_executor(executor)
        held = (executor.schema, executor.operation, executor.field_resolver)
        plans = self._plans
        entry = plans.get(key)
        if entry is not None and all(a is b for a, b in zip(entry[0], held, strict=True)):
            plans.move_to_end(key)
            return entry[1]
        plan = compile_executor(executor)
        if self.maxsize:
            # Unbound: the entry holds no subscription's executor (nor its context).
            unbound = plan.bound_to(None) if isinstance(plan, CompiledSubscription) else plan
            plans[key] = (held, unbound)
            if len(plans) > self.maxsize:
                plans.popitem(last=False)
        return plan

    def __len__(self) -> int:
        """Plans (and refusals) cached now."""
        return len(self._plans)

    def stats(self) -> dict[str, int]:
        return {
            "subscriptions_compiled": self.compiled,
            "subscriptions_interpreted": self.interpreted,
        }


def _key(executor: Any, raw_variables: Any) -> Hashable | None:
    """What a plan depends on, or ``None`` when the variables have no stable text."""
    try:
        variables = orjson.dumps(raw_variables, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    # By identity (AST nodes compare by content, and an equal operation in another
    # document may use other fragments): the entry holds the objects themselves, so
    # their ids are not reused while it lives. One operation node, one document: the
    # document cache hands out the same parsed document for the same text.
    return (
        id(executor.schema),
        id(executor.operation),
        variables,
        id(executor.field_resolver),
    )
