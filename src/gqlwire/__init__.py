"""gqlwire: real-time GraphQL for Python.

Both WebSocket subprotocols (``graphql-transport-ws`` and legacy ``graphql-ws``), GraphQL
over HTTP, Server-Sent Events and multipart HTTP on one endpoint, on aiohttp and every
ASGI server, with graphql-core, Strawberry, Ariadne or Graphene schemas; a client for
WebSocket (``Client``) and for HTTP and Server-Sent Events (``HTTPClient``).
"""

from .client import (
    BadResponse,
    Client,
    ClientClosed,
    ClientError,
    ConnectionAckTimeout,
    ConnectionClosed,
    ConnectionFailed,
    ConnectionLost,
    ConnectionRejected,
    GraphQLErrors,
    HTTPClient,
    HTTPStatusError,
    RequestTimeout,
)
from .context import ConnectionContext, Context, Headers, HTTPContext, HTTPResponseDraft
from .errors import ServerError
from .execution import UNSET, DocumentCache, ExecutionArgs
from .multipart import MultipartContext
from .protocol import GRAPHQL_TRANSPORT_WS, GRAPHQL_WS, CloseCode
from .server import GraphQLServer
from .sse import SSEContext

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
    "ConnectionLost",
    "ConnectionRejected",
    "Context",
    "DocumentCache",
    "ExecutionArgs",
    "GraphQLErrors",
    "GraphQLServer",
    "HTTPClient",
    "HTTPContext",
    "HTTPResponseDraft",
    "HTTPStatusError",
    "Headers",
    "MultipartContext",
    "RequestTimeout",
    "SSEContext",
    "ServerError",
    "__version__",
]
