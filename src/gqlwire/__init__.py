"""gqlwire: real-time GraphQL for Python.

Both WebSocket subprotocols (``graphql-transport-ws`` and legacy ``graphql-ws``), GraphQL
over HTTP, Server-Sent Events and multipart HTTP on one endpoint, on aiohttp and every
ASGI server, with graphql-core, Strawberry, Ariadne or Graphene schemas; a client for
WebSocket (``Client``) and for HTTP and Server-Sent Events (``HTTPClient``).
"""

from typing import TYPE_CHECKING, Any

from .context import ConnectionContext, Context, Headers, HTTPContext, HTTPResponseDraft
from .errors import ServerError
from .execution import UNSET, DocumentCache, ExecutionArgs
from .multipart import MultipartContext
from .protocol import GRAPHQL_TRANSPORT_WS, GRAPHQL_WS, CloseCode
from .server import GraphQLServer
from .sse import SSEContext

if TYPE_CHECKING:
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

# The client's names are imported on first use: a server (on an ASGI server above all)
# never loads the client, nor aiohttp, which only the client and the aiohttp adapter use.
_CLIENT_NAMES = frozenset(
    {
        "BadResponse",
        "Client",
        "ClientClosed",
        "ClientError",
        "ConnectionAckTimeout",
        "ConnectionClosed",
        "ConnectionFailed",
        "ConnectionLost",
        "ConnectionRejected",
        "GraphQLErrors",
        "HTTPClient",
        "HTTPStatusError",
        "RequestTimeout",
    }
)


def __getattr__(name: str) -> Any:
    if name in _CLIENT_NAMES:
        from . import client

        value = getattr(client, name)
        globals()[name] = value  # found directly from now on
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _CLIENT_NAMES)
