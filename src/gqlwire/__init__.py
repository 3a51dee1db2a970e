"""gqlwire: GraphQL over WebSocket for Python.

Both subprotocols (``graphql-transport-ws`` and legacy ``graphql-ws``), on every ASGI
server, with graphql-core, Strawberry, Ariadne or Graphene schemas.
"""

from .client import (
    BadResponse,
    Client,
    ClientClosed,
    ClientError,
    ConnectionAckTimeout,
    ConnectionClosed,
    ConnectionFailed,
    ConnectionRejected,
    GraphQLErrors,
)
from .context import ConnectionContext, Context, Headers, HTTPContext, HTTPResponseDraft
from .errors import ServerError
from .execution import UNSET, DocumentCache, ExecutionArgs
from .protocol import GRAPHQL_TRANSPORT_WS, GRAPHQL_WS, CloseCode
from .server import GraphQLServer

__version__ = "0.1.0"

__all__ = [
    "GRAPHQL_TRANSPORT_WS",
    "GRAPHQL_WS",
    "UNSET",
    "BadResponse",
    "Client",
    "ClientClosed",
    "ClientError",
    "CloseCode",
    "ConnectionAckTimeout",
    "ConnectionClosed",
    "ConnectionContext",
    "ConnectionFailed",
    "ConnectionRejected",
    "Context",
    "DocumentCache",
    "ExecutionArgs",
    "GraphQLErrors",
    "GraphQLServer",
    "HTTPContext",
    "HTTPResponseDraft",
    "Headers",
    "ServerError",
    "__version__",
]
