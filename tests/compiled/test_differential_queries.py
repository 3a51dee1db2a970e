"""Compiled queries give what graphql-core's ``execute`` gives, byte for byte.

A query is executed as a subscription's event is, its root value as the event, so the
generated subscriptions of ``test_differential.py`` are run again as queries (the
subscription type as the query root, every operation a ``query``): graphql-core's
``execute`` against ``compile_query``'s plan, compared on the JSON a client would
receive and on how many times every resolver, ``resolve_type``, ``is_type_of`` and
custom ``serialize`` ran.
"""

from __future__ import annotations

import os
from collections import Counter

from graphql import parse
from hypothesis import HealthCheck, given, settings

from gqlwire.compiled import NotCompiled, compile_query

from .harness import assert_identical, compare_query
from .strategies import Case, cases
from .test_differential import example_schema

EXAMPLES = max(10, int(os.environ.get("GQLWIRE_TEST_EXAMPLES", "200")) // 4)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(cases())
def test_generated_queries_match_graphql_core(case: Case) -> None:
    comparison = compare_query(
        case.schema,
        case.document,
        case.events,
        case.calls,
        operation_name=case.operation_name,
        variable_values=case.variables,
        compiled_schema=case.compiled_schema,
    )
    assert_identical(comparison)


def test_lists_of_objects_errors_and_abstract_types_as_a_query() -> None:
    calls: Counter[str] = Counter()
    schema = example_schema(calls)
    document = parse(
        """subscription {
          items { id n s color shout tags strict broken child { id strict } }
          node { id ... on Item { n } ... on Other { note } }
          thing { __typename ... on Item { id } }
        }"""
    )
    root = {
        "items": [
            {"id": 1, "n": 2, "s": "a", "color": "GREEN", "shout": "x", "tags": ["t"]},
            {"id": 2, "strict": None, "child": {"id": 3, "strict": 4}},
        ],
        "node": {"id": 5, "note": "other", "kind": "Other"},
        "thing": {"id": 6, "kind": "Item"},
    }
    assert_identical(compare_query(schema, document, [root, {"items": None}], calls))


def test_a_mutation_is_not_compiled() -> None:
    schema = example_schema(Counter())
    document = parse("mutation { ok }")
    refused = compile_query(schema, document)
    assert isinstance(refused, NotCompiled)
    assert refused.reason in {
        "a mutation (its fields run one after the other)",
        "executor not built: GraphQLError",
        "no root type for the operation",
    }
