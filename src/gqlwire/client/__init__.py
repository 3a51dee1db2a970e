"""The gqlwire client: GraphQL over WebSocket on aiohttp, both subprotocols.

See :class:`Client`; ``python -m gqlwire query|subscribe`` is built on it (:mod:`.cli`).
"""

from .client import Client
from .errors import (
    BadResponse,
    ClientClosed,
    ClientError,
    ConnectionAckTimeout,
    ConnectionClosed,
    ConnectionFailed,
    ConnectionRejected,
    GraphQLErrors,
)
from .retry import exponential_backoff, is_fatal_close_code

__all__ = [
    "BadResponse",
    "Client",
    "ClientClosed",
    "ClientError",
    "ConnectionAckTimeout",
    "ConnectionClosed",
    "ConnectionFailed",
    "ConnectionRejected",
    "GraphQLErrors",
    "exponential_backoff",
    "is_fatal_close_code",
]
