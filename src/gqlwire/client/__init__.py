"""The gqlwire client: GraphQL over WebSocket on aiohttp, both subprotocols
(:class:`Client`), and GraphQL over HTTP and Server-Sent Events (:class:`HTTPClient`).

``python -m gqlwire query|subscribe`` is built on it (:mod:`.cli`).
"""

from .client import Client
from .errors import (
    BadResponse,
    ClientClosed,
    ClientError,
    ConnectionAckTimeout,
    ConnectionClosed,
    ConnectionFailed,
    ConnectionLost,
    ConnectionRejected,
    GraphQLErrors,
    HTTPStatusError,
    RequestTimeout,
)
from .http_client import HTTPClient
from .retry import exponential_backoff, is_fatal_close_code

__all__ = [
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
    "exponential_backoff",
    "is_fatal_close_code",
]
