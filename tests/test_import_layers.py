"""The layers of gqlwire import one way: no module of the server core imports,
even only for type checking, a module that imports it back.

Read from the source with :mod:`ast` (every ``import`` and ``from`` statement: those
under ``if TYPE_CHECKING:`` and inside functions too), so that a cycle is found even
where Python would tolerate it at run time. What a fresh interpreter loads is checked
too: a server does not load the client.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import gqlwire

SOURCE = Path(gqlwire.__file__).parent

CORE = {
    "gqlwire.adapters.aiohttp",
    "gqlwire.adapters.asgi",
    "gqlwire.adapters.base",
    "gqlwire.connection",
    "gqlwire.context",
    "gqlwire.execution",
    "gqlwire.execution_budget",
    "gqlwire.graphiql",
    "gqlwire.hooks",
    "gqlwire.http",
    "gqlwire.http_stream",
    "gqlwire.incremental",
    "gqlwire.limits",
    "gqlwire.multipart",
    "gqlwire.operation",
    "gqlwire.options",
    "gqlwire.outbox",
    "gqlwire.response_stream",
    "gqlwire.runtime",
    "gqlwire.schema_libraries",
    "gqlwire.server",
    "gqlwire.sharing",
    "gqlwire.sse",
    "gqlwire.sse_single",
    "gqlwire.timers",
}
"""The server core: every module between the adapters and graphql-core."""


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> Iterator[str]:
    """The gqlwire modules that ``path`` imports, anywhere in it."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("gqlwire"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            elif node.module and node.module.startswith("gqlwire"):
                module = node.module
            else:
                continue
            yield module
            # `from . import x` and `from .pkg import submodule` import modules too.
            for alias in node.names:
                if (
                    (SOURCE.parent / (module + "." + alias.name).replace(".", "/"))
                    .with_suffix(".py")
                    .exists()
                ):
                    yield f"{module}.{alias.name}"


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SOURCE.rglob("*.py"):
        graph[module_name(path)] = set(imported(path)) - {module_name(path)}
    return graph


def cycle_from(graph: dict[str, set[str]], start: str, within: set[str]) -> list[str] | None:
    """A path of imports from ``start`` back to itself through ``within``, if any."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        module, path = stack.pop()
        for target in sorted(graph.get(module, ())):
            if target == start:
                return [*path, start]
            if target in within and target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def test_the_core_modules_exist() -> None:
    assert set(import_graph()) >= CORE


def test_no_cycle_among_the_core_modules() -> None:
    graph = import_graph()
    cycles = [cycle for name in sorted(CORE) if (cycle := cycle_from(graph, name, CORE))]
    assert cycles == []


def test_hooks_is_a_leaf() -> None:
    assert import_graph()["gqlwire.hooks"] == set()


def test_the_context_knows_no_connection_operation_or_options() -> None:
    assert import_graph()["gqlwire.context"] <= {"gqlwire.protocol"}


def test_fanout_is_a_library_of_its_own() -> None:
    graph = import_graph()
    outside = {
        (name, target)
        for name, targets in graph.items()
        if name.startswith("gqlwire.fanout")
        for target in targets
        if not target.startswith("gqlwire.fanout")
    }
    assert outside == set()


def test_the_operation_core_knows_no_transport() -> None:
    graph = import_graph()
    transports = {"gqlwire.connection", "gqlwire.http", "gqlwire.outbox", "gqlwire.server"}
    for name in ("gqlwire.operation", "gqlwire.execution", "gqlwire.sharing"):
        known = {t for t in graph[name] if t in transports or t.startswith("gqlwire.adapters")}
        assert known == set(), name


def loaded_after(code: str) -> list[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.split()


def test_a_server_on_asgi_loads_neither_the_client_nor_aiohttp() -> None:
    """Only the client and the aiohttp adapter use aiohttp: an ASGI worker that builds
    its app loads neither (about 100 ms of import time and 12 MB of memory, measured
    when the package still imported its client)."""
    loaded = loaded_after(
        "from graphql import build_schema\n"
        "from gqlwire import GraphQLServer\n"
        "app = GraphQLServer(build_schema('type Query { ok: Boolean }')).asgi()\n"
        # What a worker process of `gqlwire serve` imports for its app.
        "import gqlwire.cli"
    )
    assert "gqlwire.server" in loaded
    assert [name for name in loaded if name.startswith(("gqlwire.client", "aiohttp"))] == []


def test_the_client_is_found_on_the_package_when_asked_for() -> None:
    loaded = loaded_after("from gqlwire import Client, ConnectionLost")
    assert "gqlwire.client" in loaded
    import gqlwire.client

    for name in gqlwire.client.__all__:
        if name in gqlwire.__all__:
            assert getattr(gqlwire, name) is getattr(gqlwire.client, name), name
    assert set(gqlwire.__all__) <= set(dir(gqlwire))
    with pytest.raises(AttributeError, match="no attribute 'Clinet'"):
        gqlwire.Clinet  # noqa: B018 - the look-up is what is tested
