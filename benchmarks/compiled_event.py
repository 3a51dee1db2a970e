"""One subscription event in-process: graphql-core's per-event executor against the
compiled plan (:mod:`gqlwire.compiled`), CPU time per event.

``python -m benchmarks.compiled_event`` runs the fan-out benchmark's subscription
(``tick(channel) { seq ts payload }``, the root field resolved by a function, its
fields by the default resolver) on whichever graphql-core the interpreter has, and
checks first that both give the same result. Process CPU time, the best of five runs
of 20,000 events each, the two paths taking turns: a shared machine's other work
slows either, not one of them.

``--literal-list`` runs ``pick(ids: [1, 2, 3])`` instead: a field whose argument is a
list literal, which both paths coerce for every event (a resolver may change it).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import graphql
from graphql import GraphQLSchema, build_schema, parse

from gqlwire.compiled import CompiledSubscription, compile_subscription
from gqlwire.response_stream import SubscriptionExecutor, _execute_event, build_executor

from .apps.gqlwire_app import _schema
from .feed import SUBSCRIPTION_QUERY, make_event


def cpu_per_call(run: Callable[[Any], Any], event: Any, count: int) -> float:
    """Microseconds of process CPU time per call of ``run(event)``."""
    start = time.process_time()
    for _ in range(count):
        run(event)
    return (time.process_time() - start) / count * 1e6


LITERAL_LIST_QUERY = "subscription { pick(ids: [1, 2, 3]) }"


def literal_list_schema() -> GraphQLSchema:
    schema = build_schema(
        "type Query { ok: Boolean } type Subscription { pick(ids: [Int!]!): Int }"
    )
    subscription = schema.subscription_type
    assert subscription is not None
    subscription.fields["pick"].resolve = lambda event, _info, ids: event["n"] + len(ids)
    return schema


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--literal-list",
        action="store_true",
        help="a field with a list literal argument instead of the fan-out subscription",
    )
    options = parser.parse_args()

    if options.literal_list:
        schema = literal_list_schema()
        document = parse(LITERAL_LIST_QUERY)
        variables: dict[str, Any] = {}
        event: Any = {"n": 1}
    else:
        schema = _schema()
        document = parse(SUBSCRIPTION_QUERY)
        variables = {"channel": "bench"}
        event = make_event(1)
    executor = build_executor(
        SubscriptionExecutor,
        {"schema": schema, "document": document, "variable_values": variables},
    )
    compiled = compile_subscription(schema, document, variable_values=variables)
    assert isinstance(compiled, CompiledSubscription), compiled
    reference = _execute_event(executor, event)
    assert compiled.execute(event) == reference, (compiled.execute(event), reference)

    def interpreted(event: Any) -> Any:
        return _execute_event(executor, event)

    best = {"graphql-core": float("inf"), "compiled": float("inf")}
    for _ in range(options.rounds):
        for name, run in (("graphql-core", interpreted), ("compiled", compiled.execute)):
            best[name] = min(best[name], cpu_per_call(run, event, options.events))
    ratio = best["graphql-core"] / best["compiled"]
    print(
        f"graphql-core {graphql.__version__}: graphql-core's executor "
        f"{best['graphql-core']:.2f} µs/event, compiled {best['compiled']:.2f} µs/event "
        f"({ratio:.1f}x)"
    )


if __name__ == "__main__":
    main()
