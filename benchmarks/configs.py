"""The server configurations and the scenario sizes (full run and ``--quick``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

GC32_PYTHON_ENV = "GQLWIRE_BENCH_PYTHON_GC32"
"""Names the graphql-core 3.2 interpreter (``--python-gc32`` sets it for the run)."""
GC32_VENV_PYTHON = ROOT / ".venvs" / "graphql-core-3.2" / "bin" / "python"
"""Where ``scripts/test_matrix.py --cells graphql-core-3.2`` puts that interpreter."""


def gc32_python() -> str | None:
    """The interpreter of the graphql-core 3.2 configuration, if there is one: the
    environment variable's, else the test matrix's virtualenv when it exists."""
    named = os.environ.get(GC32_PYTHON_ENV)
    if named:
        return named
    return str(GC32_VENV_PYTHON) if GC32_VENV_PYTHON.exists() else None


@dataclass(frozen=True)
class ServerConfig:
    name: str
    graphql_library: str  # gqlwire, strawberry, ariadne, raw
    server: str  # aiohttp, uvicorn, granian
    module: str  # benchmarks.apps.<module>: make_aiohttp_app() or asgi_app
    python: str | None = None
    """``"gc32"``: the server runs under the graphql-core 3.2 interpreter
    (:func:`gc32_python`); ``None``: under the benchmark's own."""
    raw: str = ""
    """The raw ceiling it is held against in the targets: the same server, no GraphQL."""

    @property
    def interpreter(self) -> str | None:
        """The server's interpreter (``None``: this one), or ``""`` when it is missing."""
        if self.python is None:
            return None
        return gc32_python() or ""

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
    ServerConfig("gqlwire-aiohttp", "gqlwire", "aiohttp", "gqlwire_app", raw="raw-aiohttp"),
    # The same server under graphql-core 3.2, against the same raw ceiling.
    ServerConfig(
        "gqlwire-aiohttp-gc32", "gqlwire", "aiohttp", "gqlwire_app", "gc32", "raw-aiohttp"
    ),
    ServerConfig("gqlwire-uvicorn", "gqlwire", "uvicorn", "gqlwire_app", raw="raw-uvicorn"),
    ServerConfig("gqlwire-granian", "gqlwire", "granian", "gqlwire_app", raw="raw-granian"),
    ServerConfig("strawberry-uvicorn", "strawberry", "uvicorn", "strawberry_app"),
    ServerConfig("ariadne-uvicorn", "ariadne", "uvicorn", "ariadne_app"),
    ServerConfig("raw-aiohttp", "raw", "aiohttp", "raw_app"),
    ServerConfig("raw-uvicorn", "raw", "uvicorn", "raw_app"),
    ServerConfig("raw-granian", "raw", "granian", "raw_app"),
)

CONFIGS_BY_NAME = {config.name: config for config in CONFIGS}


def default_configs() -> list[ServerConfig]:
    """What a run without ``--configs`` measures: every configuration whose interpreter
    is there (the graphql-core 3.2 one only when it is)."""
    return [config for config in CONFIGS if config.interpreter != ""]


# Scenario name -> load generator parameters. The order is the order of the run:
# memory first, while the server process is still fresh.
FULL: dict[str, dict[str, Any]] = {
    "memory": {"subscribers": 1000},
    # Three rounds: a round of 1,000 connections holds about one full collection of the
    # garbage collector, whose cost depends on where in the round it falls.
    "connect": {"subscribers": 1000, "repeat": 3},
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


def shown_path(path: str) -> str:
    """An interpreter's path as a result file records it: relative to the checkout when
    it lies inside (``.venvs/...``), so results name no machine's directories."""
    try:
        return str(Path(path).absolute().relative_to(ROOT))
    except ValueError:
        return Path(path).name
