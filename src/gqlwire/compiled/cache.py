"""Compiled plans kept per operation, and the count of which path subscriptions and
queries took.

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

from ..response_stream import EXECUTOR_CLASS_KEYWORD, ExecutorBase
from . import CompiledSubscription, NotCompiled, build_compiled_executor, compile_executor

_logger: Final = logging.getLogger("gqlwire")

DEFAULT_PLANS: Final = 256
"""Compiled plans a server keeps (least recently used leave first)."""


_Entry = tuple[tuple[Any, ...], CompiledSubscription | NotCompiled]
"""What the key names (held, to compare by identity), and the plan or the refusal."""


class SubscriptionCompiler:
    """Compiles subscriptions' and queries' executors through a bounded cache, and
    counts."""

    __slots__ = (
        "_plans",
        "_query_plans",
        "compiled",
        "enabled",
        "interpreted",
        "maxsize",
        "queries_compiled",
        "queries_enabled",
        "queries_interpreted",
    )

    def __init__(
        self, maxsize: int = DEFAULT_PLANS, *, enabled: bool = True, queries: bool = False
    ) -> None:
        self.maxsize = maxsize
        self.enabled = enabled
        """With ``False`` no subscription is compiled; subscriptions are only counted."""
        self.queries_enabled = queries
        """Whether :meth:`query` compiles queries (``False``: it only counts them)."""
        self._plans: OrderedDict[Hashable, _Entry] = OrderedDict()
        # Queries' plans apart, so that many one-off queries never push out the
        # subscriptions' (each cache keeps ``maxsize``).
        self._query_plans: OrderedDict[Hashable, _Entry] = OrderedDict()
        self.compiled = 0
        """Subscriptions (or shared groups) whose events run compiled."""
        self.interpreted = 0
        """Subscriptions whose events run on graphql-core's executor."""
        self.queries_compiled = 0
        """Queries that ran compiled."""
        self.queries_interpreted = 0
        """Queries that ran on graphql-core's executor."""

    def query(self, kwargs: dict[str, Any]) -> CompiledSubscription | None:
        """A query's compiled plan, bound to an executor built for it from graphql-core's
        ``execute`` keyword arguments (its root value is the one event), or ``None``:
        graphql-core runs it (counted either way, the reason logged at DEBUG)."""
        if not self.queries_enabled:
            self._query_interpreted("compile_queries is off")
            return None
        executor_class = kwargs.get(EXECUTOR_CLASS_KEYWORD)
        if executor_class is not None and executor_class is not ExecutorBase:
            # A schema library's class, or graphql-core's incremental one (@defer).
            self._query_interpreted("custom executor class")
            return None
        executor = build_compiled_executor(kwargs)
        if isinstance(executor, NotCompiled):
            self._query_interpreted(executor.reason)
            return None
        outcome = self._plan(executor, kwargs.get("variable_values"), on_repeat=True)
        if isinstance(outcome, NotCompiled):
            self._query_interpreted(outcome.reason)
            return None
        self.queries_compiled += 1
        return outcome.bound_to(executor)

    def _query_interpreted(self, reason: str) -> None:
        self.queries_interpreted += 1
        _logger.debug("query not compiled: %s", reason)

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

    def _plan(
        self, executor: Any, raw_variables: Any, *, on_repeat: bool = False
    ) -> CompiledSubscription | NotCompiled:
        """The plan for ``executor``'s operation, cached. ``on_repeat``: compiled only
        when the same operation and variables come a second time (a query: compiling a
        small one costs a few times what executing it once does, so a query that comes
        once, with variables of its own, runs on graphql-core's executor)."""
        key = _key(executor, raw_variables)
        if key is None:
            return NOT_CACHEABLE if on_repeat else compile_executor(executor)
        held = (executor.schema, executor.operation, executor.field_resolver)
        plans = self._query_plans if on_repeat else self._plans
        entry = plans.get(key)
        if entry is not None and all(a is b for a, b in zip(entry[0], held, strict=True)):
            plans.move_to_end(key)
            if entry[1] is not FIRST_SIGHT:
                return entry[1]
        elif on_repeat:
            self._remember(plans, key, (held, FIRST_SIGHT))
            return FIRST_SIGHT
        plan = compile_executor(executor)
        # Unbound: the entry holds no operation's executor (nor its context).
        unbound = plan.bound_to(None) if isinstance(plan, CompiledSubscription) else plan
        self._remember(plans, key, (held, unbound))
        return plan

    def _remember(self, plans: OrderedDict[Hashable, _Entry], key: Hashable, entry: _Entry) -> None:
        if self.maxsize:
            plans[key] = entry
            plans.move_to_end(key)
            if len(plans) > self.maxsize:
                plans.popitem(last=False)

    def __len__(self) -> int:
        """Plans (and refusals, and queries seen once) cached now."""
        return len(self._plans) + len(self._query_plans)

    def stats(self) -> dict[str, int]:
        return {
            "subscriptions_compiled": self.compiled,
            "subscriptions_interpreted": self.interpreted,
            "queries_compiled": self.queries_compiled,
            "queries_interpreted": self.queries_interpreted,
        }


FIRST_SIGHT: Final = NotCompiled("first sight (a query is compiled when it comes again)")
"""A query's first execution with these variables: remembered, not compiled."""

NOT_CACHEABLE: Final = NotCompiled("variables without a stable text")
"""A query whose variables cannot be keyed: never compiled (each would compile anew)."""


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
