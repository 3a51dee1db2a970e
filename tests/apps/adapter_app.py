"""The app behind the adapter tests (see ``tests/adapters``).

WebSocket paths (both subprotocols on each):

``/graphql``
    library defaults (init timeout 3 s, keep-alive 12 s) plus the recording hooks of
    :mod:`tests.apps.legacy_app`, so a dropped connection's cleanup can be observed.
``/timeout0``
    ``connection_init_wait_timeout=0``: the Ariadne failure of docs/design.md.
``/small``
    ``max_message_size=1024`` (below every server's own frame limit).
``/origin``
    ``allowed_origins=[ALLOWED_ORIGIN]``.

HTTP paths are those of :mod:`tests.apps.legacy_app`: ``GET /_events?token=``,
``POST /_pong?key=`` and ``GET /_stats?route=/graphql``.

``app`` is the ASGI app, ``aiohttp_app`` the same routes for aiohttp.
``graphql_server`` is a plain :class:`~gqlwire.GraphQLServer`, for the command line
(``gqlwire serve tests.apps.adapter_app:graphql_server --init-timeout 0``).
"""

from __future__ import annotations

from gqlwire import GraphQLServer
from tests.apps.legacy_app import RECORDING_HOOKS, SCHEMA, instrumented_routes

ALLOWED_ORIGIN = "https://app.example"

graphql_server = GraphQLServer(SCHEMA)

routes = instrumented_routes(
    {
        "/graphql": GraphQLServer(SCHEMA, **RECORDING_HOOKS),
        "/timeout0": GraphQLServer(SCHEMA, connection_init_wait_timeout=0, **RECORDING_HOOKS),
        "/small": GraphQLServer(SCHEMA, max_message_size=1024, keep_alive=None),
        "/origin": GraphQLServer(SCHEMA, allowed_origins=[ALLOWED_ORIGIN], keep_alive=None),
    }
)
app = routes.asgi()
aiohttp_app = routes.aiohttp()
