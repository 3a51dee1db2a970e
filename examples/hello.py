"""A small schema to try gqlwire with: ``python -m gqlwire serve examples.hello:schema``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
)


async def countdown(_root: Any, _info: Any, start: int) -> AsyncIterator[dict[str, int]]:
    for value in range(start, -1, -1):
        yield {"countdown": value}
        await asyncio.sleep(1)


schema = GraphQLSchema(
    query=GraphQLObjectType(
        "Query",
        {
            "hello": GraphQLField(
                GraphQLNonNull(GraphQLString),
                args={"name": GraphQLArgument(GraphQLString, default_value="world")},
                resolve=lambda _root, _info, name: f"Hello, {name}!",
            )
        },
    ),
    subscription=GraphQLObjectType(
        "Subscription",
        {
            "countdown": GraphQLField(
                GraphQLNonNull(GraphQLInt),
                args={"start": GraphQLArgument(GraphQLNonNull(GraphQLInt), default_value=5)},
                subscribe=countdown,
                resolve=lambda event, _info, start: event["countdown"],
            )
        },
    ),
)
