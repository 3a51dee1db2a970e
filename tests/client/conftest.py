"""Fixtures of the client tests.

``app_server`` is :mod:`tests.apps.client_app` served by gqlwire on aiohttp and on
uvicorn (module-scoped, shared through the session's server pool); ``protocol`` runs a
test on both subprotocols. A test using ``app_server`` fails if the server logged an
error or a traceback meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gqlwire.runners import RunnerError, check_server
from tests.harness.control import new_token
from tests.harness.protocols import PROTOCOLS
from tests.harness.servers import LogWatch, ServerPool, ServerProcess

from .leaks import Reports, recorded_reports
from .node_servers import NodeServer, serve_node
from .support import APP_SERVERS, CLIENT_APP


def _server_param(name: str) -> object:
    try:
        check_server(name)
    except RunnerError as missing:
        return pytest.param(name, id=name, marks=pytest.mark.skip(reason=str(missing)))
    return pytest.param(name, id=name)


@pytest.fixture(scope="module", params=[_server_param(name) for name in APP_SERVERS])
def app_server_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def app_server(server_pool: ServerPool, app_server_name: str) -> ServerProcess:
    return server_pool.get(CLIENT_APP, app_server_name)


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def sse_server() -> Iterator[NodeServer]:
    """npm graphql-sse's and graphql-http's handlers on one port (node/sse_server.mjs)."""
    yield from serve_node("sse_server.mjs")


@pytest.fixture
def reports() -> Iterator[Reports]:
    """What asyncio, warnings and the unraisable hook report during the test."""
    yield from recorded_reports()


@pytest.fixture
def token() -> str:
    return new_token()


@pytest.fixture
def log_watch(app_server: ServerProcess) -> LogWatch:
    """The server log of this test; ``log_watch.allow(pattern)`` for expected errors."""
    return LogWatch(app_server)


@pytest.fixture(autouse=True)
def _clean_server_log(request: pytest.FixtureRequest) -> Iterator[None]:
    if "app_server" not in request.fixturenames:
        yield
        return
    watch: LogWatch = request.getfixturevalue("log_watch")
    yield
    watch.assert_clean()
