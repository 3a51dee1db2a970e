"""The README's "In your own application" examples, written out as printed and served.

On each ASGI server, ``gqlwire serve MODULE:app`` serves the Starlette and the FastAPI
example as they are; on aiohttp, the aiohttp example. Each must answer at exactly
``/graphql``: a POST and a GET query, a subscription on both subprotocols, a clean log,
and a clean stop. Beside them, a ``Mount`` of the bare ASGI app shows what the README
says a Mount gives: the paths below it, not its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.endpoint import (
    COUNTDOWN_EVENTS,
    HELLO,
    HELLO_RESULT,
    get,
    post,
    subscribe,
)
from tests.docs.readme import write_module
from tests.harness.protocols import PROTOCOLS, TRANSPORT_WS
from tests.harness.servers import ServerProcess, assert_clean_log, start_server
from tests.harness.wsclient import handshake_status, http_post_json

ASGI_EXAMPLES = ("starlette-app", "fastapi-app")

# The harness serves a target's ``module:app`` as ``module:aiohttp_app`` on aiohttp; the
# aiohttp example (``app``, as printed) is handed over under that name.
_AIOHTTP_TARGET_MODULE = "from aiohttp_app import app as aiohttp_app\n"

_MOUNTED = """
from starlette.applications import Starlette
from starlette.routing import Mount

from examples.hello import schema
from gqlwire import GraphQLServer

app = Starlette(routes=[Mount("/graphql", app=GraphQLServer(schema).asgi())])
"""


@pytest.fixture(scope="module")
def example_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("readme-apps")
    for name in (*ASGI_EXAMPLES, "aiohttp-app"):
        write_module(name, directory)
    (directory / "served_aiohttp.py").write_text(_AIOHTTP_TARGET_MODULE, encoding="utf-8")
    (directory / "mounted.py").write_text(_MOUNTED, encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def examples(server_name: str, example_dir: Path) -> Iterator[dict[str, ServerProcess]]:
    """The README examples this server runs, each in its own process, by example name."""
    if server_name == "aiohttp":
        targets = {"aiohttp-app": "served_aiohttp:app"}
    else:
        targets = {name: f"{name.replace('-', '_')}:app" for name in ASGI_EXAMPLES}
    started: dict[str, ServerProcess] = {}
    try:
        for name, target in targets.items():
            started[name] = start_server(target, server_name, cwd=str(example_dir))
        yield started
    finally:
        for proc in started.values():
            proc.stop()


async def test_post_at_exactly_the_path(examples: dict[str, ServerProcess]) -> None:
    for proc in examples.values():
        assert await post(proc, HELLO) == (200, HELLO_RESULT), proc.log()


async def test_get_at_exactly_the_path(examples: dict[str, ServerProcess]) -> None:
    for proc in examples.values():
        assert await get(proc, HELLO) == (200, HELLO_RESULT), proc.log()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_subscription_at_exactly_the_path(
    examples: dict[str, ServerProcess], protocol: str
) -> None:
    results = await asyncio.gather(*(subscribe(proc, protocol) for proc in examples.values()))
    assert results == [COUNTDOWN_EVENTS] * len(examples)


async def test_the_fastapi_route_beside_it(examples: dict[str, ServerProcess]) -> None:
    proc = examples.get("fastapi-app")
    if proc is None:
        pytest.skip("the FastAPI example runs on the ASGI servers")
    assert await get(proc, HELLO, path="/health") == (200, {"status": "ok"})


async def test_the_frameworks_lifespan_still_runs(
    examples: dict[str, ServerProcess], server_name: str
) -> None:
    """The routes see only HTTP and WebSocket: the framework answers lifespan itself
    (uvicorn says so in its log; a failed lifespan would be reported there)."""
    if not server_name.startswith("uvicorn"):
        pytest.skip("uvicorn logs the lifespan startup")
    for proc in examples.values():
        assert "Application startup complete." in proc.log(), proc.log()


async def test_log_is_clean_and_the_stop_too(examples: dict[str, ServerProcess]) -> None:
    for proc in examples.values():
        assert_clean_log(proc)
        assert await asyncio.to_thread(proc.stop) == 0, proc.log()
        assert_clean_log(proc)


async def test_a_mount_serves_below_its_path_only(server_name: str, example_dir: Path) -> None:
    if server_name == "aiohttp":
        pytest.skip("a Starlette Mount runs on the ASGI servers")
    proc = start_server("mounted:app", server_name, cwd=str(example_dir))
    try:
        assert await post(proc, HELLO, path="/graphql/") == (200, HELLO_RESULT)
        assert await subscribe(proc, TRANSPORT_WS, path="/graphql/") == COUNTDOWN_EVENTS
        response = await http_post_json(proc.http_url(), {"query": HELLO})
        assert response.status_code == 307  # Starlette's redirect to /graphql/
        assert await handshake_status(proc.ws_url()) == 403
        assert_clean_log(proc)
    finally:
        proc.stop()
