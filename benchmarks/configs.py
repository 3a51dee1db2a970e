"""The server configurations and the scenario sizes (full run and ``--quick``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerConfig:
    name: str
    library: str  # gqlwire, strawberry, ariadne, raw
    server: str  # aiohttp, uvicorn, granian
    module: str  # benchmarks.apps.<module>: make_aiohttp_app() or asgi_app

    @property
    def pinned(self) -> bool:
        """Single-threaded servers get CPU 0 to themselves; granian runs its Rust I/O
        threads beside the Python worker, so pinning it to one core would make them
        take turns on it."""
        return self.server != "granian"

    @property
    def asgi_target(self) -> str:
        return f"benchmarks.apps.{self.module}:asgi_app"


CONFIGS: tuple[ServerConfig, ...] = (
    ServerConfig("gqlwire-aiohttp", "gqlwire", "aiohttp", "gqlwire_app"),
    ServerConfig("gqlwire-uvicorn", "gqlwire", "uvicorn", "gqlwire_app"),
    ServerConfig("gqlwire-granian", "gqlwire", "granian", "gqlwire_app"),
    ServerConfig("strawberry-uvicorn", "strawberry", "uvicorn", "strawberry_app"),
    ServerConfig("ariadne-uvicorn", "ariadne", "uvicorn", "ariadne_app"),
    ServerConfig("raw-aiohttp", "raw", "aiohttp", "raw_app"),
    ServerConfig("raw-uvicorn", "raw", "uvicorn", "raw_app"),
    ServerConfig("raw-granian", "raw", "granian", "raw_app"),
)

CONFIGS_BY_NAME = {config.name: config for config in CONFIGS}

# Scenario name -> load generator parameters. The order is the order of the run:
# memory first, while the server process is still fresh.
FULL: dict[str, dict[str, Any]] = {
    "memory": {"subscribers": 1000},
    "connect": {"subscribers": 1000},
    "fanout": {"subscribers": 1000, "events": 100, "repeat": 5},
    "single": {"subscribers": 1, "events": 20000, "repeat": 2},
    "latency": {"subscribers": 1000, "rate": 20, "duration": 5},
    "stalled": {"subscribers": 100, "events": 800, "stalled_subscriptions": 50},
}

QUICK: dict[str, dict[str, Any]] = {
    "memory": {"subscribers": 50},
    "connect": {"subscribers": 50},
    "fanout": {"subscribers": 50, "events": 20},
    "single": {"subscribers": 1, "events": 500},
    "latency": {"subscribers": 50, "rate": 20, "duration": 1},
    "stalled": {"subscribers": 10, "events": 50, "stalled_subscriptions": 5, "idle": 2},
}

SCENARIO_TITLES = {
    "memory": "Memory per idle subscribed connection",
    "connect": "Connect + subscribe rate",
    "fanout": "Fan-out",
    "single": "Single stream",
    "latency": "Latency",
    "stalled": "Stalled client",
}
