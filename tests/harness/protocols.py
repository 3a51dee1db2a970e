"""The two subprotocols, by name, and the message types a test writes per protocol.

The names are written out here rather than imported from :mod:`gqlwire.protocol`: the
tests over real servers check what goes on the wire, so they hold the names a client
sends, not the library's own spelling of them (``tests/protocol`` checks that the two
agree).
"""

from __future__ import annotations

from typing import Final

TRANSPORT_WS: Final = "graphql-transport-ws"
"""The current protocol (npm graphql-ws)."""
LEGACY_WS: Final = "graphql-ws"
"""The legacy protocol (npm subscriptions-transport-ws)."""
PROTOCOLS: Final = (TRANSPORT_WS, LEGACY_WS)

SUBSCRIBE: Final = {TRANSPORT_WS: "subscribe", LEGACY_WS: "start"}
"""The client's message that starts an operation."""
STOP: Final = {TRANSPORT_WS: "complete", LEGACY_WS: "stop"}
"""The client's message that ends an operation."""
RESULT: Final = {TRANSPORT_WS: "next", LEGACY_WS: "data"}
"""The server's message that carries a result."""
