"""Pytest plumbing shared by every test.

- ``server_name``: parametrizes a test over every server in ``gqlwire.runners.SERVER_NAMES``
  (ids are the names). Limit the matrix with ``--servers uvicorn,granian`` or
  ``GQLWIRE_TEST_SERVERS=uvicorn,granian``. The parameter is module-scoped, so a module's
  tests run server by server and module-scoped fixtures may depend on it.
- ``server_pool``: ``server_pool.get(target, server, args=())`` starts ``gqlwire serve``
  once per (target, server, args) and reuses it for the session; all are stopped at the end.
  On aiohttp, a test app's ``module:app`` is served as ``module:aiohttp_app``
  (``tests.harness.servers.served_target``). Tests check logs themselves with
  ``tests.harness.servers.assert_clean_log``.
- ``selected_server_names``: the servers chosen for this run, for tests of one server.
- ``@pytest.mark.per_adapter`` (on a test, a class or a whole module): the test checks
  gqlwire's own behaviour, which the server only carries, so it runs on one server per
  adapter instead of every server: aiohttp (gqlwire's aiohttp adapter) and the first other
  selected server (its ASGI adapter). ``@pytest.mark.every_server`` on a test of such a
  module keeps that case on every server: mark so the cases that touch what servers do
  differently (close reasons and codes, headers, bodies, disconnects). ``--every-server``
  (or ``GQLWIRE_TEST_EVERY_SERVER=1``) ignores ``per_adapter`` for one run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# `tests.harness` and `tests.apps` are imported from the repository root.
_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from gqlwire.runners import SERVER_NAMES, RunnerError, check_server  # noqa: E402
from tests.harness.matrix import one_server_per_adapter  # noqa: E402
from tests.harness.servers import ServerPool  # noqa: E402

_SERVERS_ENV = "GQLWIRE_TEST_SERVERS"
_EVERY_SERVER_ENV = "GQLWIRE_TEST_EVERY_SERVER"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--servers",
        default=None,
        help=f"comma-separated servers to test on (default: ${_SERVERS_ENV} or all: "
        f"{','.join(SERVER_NAMES)})",
    )
    parser.addoption(
        "--every-server",
        action="store_true",
        default=os.environ.get(_EVERY_SERVER_ENV, "") not in ("", "0"),
        help="run tests marked per_adapter on every selected server too "
        f"(or set ${_EVERY_SERVER_ENV}=1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "per_adapter: gqlwire's own behaviour; run on one server per adapter "
        "(aiohttp and one ASGI server), not on every server",
    )
    config.addinivalue_line(
        "markers", "every_server: run on every server even in a per_adapter module"
    )


def selected_servers(config: pytest.Config) -> list[str]:
    chosen = config.getoption("--servers") or os.environ.get(_SERVERS_ENV) or ""
    names = [name.strip() for name in chosen.split(",") if name.strip()]
    if not names:
        return list(SERVER_NAMES)
    unknown = [name for name in names if name not in SERVER_NAMES]
    if unknown:
        raise pytest.UsageError(
            f"unknown server(s) {', '.join(unknown)}; choose from {', '.join(SERVER_NAMES)}"
        )
    return names


def _server_param(name: str) -> object:
    try:
        check_server(name)
    except RunnerError as missing:
        return pytest.param(name, id=name, marks=pytest.mark.skip(reason=str(missing)))
    return pytest.param(name, id=name)


def _runs_per_adapter(metafunc: pytest.Metafunc) -> bool:
    definition = metafunc.definition
    if metafunc.config.getoption("--every-server"):
        return False
    if definition.get_closest_marker("every_server") is not None:
        return False
    return definition.get_closest_marker("per_adapter") is not None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "server_name" in metafunc.fixturenames:
        names = selected_servers(metafunc.config)
        if _runs_per_adapter(metafunc):
            names = one_server_per_adapter(names)
        metafunc.parametrize("server_name", [_server_param(n) for n in names], scope="module")


@pytest.fixture(scope="session")
def selected_server_names(pytestconfig: pytest.Config) -> list[str]:
    return selected_servers(pytestconfig)


@pytest.fixture(scope="session")
def server_pool() -> Iterator[ServerPool]:
    pool = ServerPool()
    try:
        yield pool
    finally:
        pool.close()
