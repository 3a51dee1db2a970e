"""``@defer`` and ``@stream`` (graphql-core 3.3): a schema that declares both directives.

gqlwire serve examples.incremental:schema
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLDeferDirective,
    GraphQLField,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLStreamDirective,
    GraphQLString,
    specified_directives,
)


async def report(_root: Any, _info: Any) -> str:
    await asyncio.sleep(0.5)  # an expensive field: worth deferring
    return "all systems go"


async def countdown(_root: Any, _info: Any, start: int) -> AsyncIterator[int]:
    for value in range(start, -1, -1):
        yield value
        await asyncio.sleep(0.2)


schema = GraphQLSchema(
    query=GraphQLObjectType(
        "Query",
        {
            "hello": GraphQLField(GraphQLNonNull(GraphQLString), resolve=lambda *_: "world"),
            "report": GraphQLField(GraphQLNonNull(GraphQLString), resolve=report),
            "countdown": GraphQLField(
                GraphQLNonNull(GraphQLList(GraphQLNonNull(GraphQLInt))),
                args={"start": GraphQLArgument(GraphQLNonNull(GraphQLInt))},
                resolve=countdown,
            ),
        },
    ),
    # Declaring the directives turns incremental delivery on.
    directives=[*specified_directives, GraphQLDeferDirective, GraphQLStreamDirective],
)
