"""The example schema served with GraphQL over SSE's single connection mode on:
``gqlwire serve examples.sse_single:server``."""

from __future__ import annotations

from examples.hello import schema
from gqlwire import GraphQLServer

server = GraphQLServer(schema, sse_single_connection=True)
