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
from tests.harness.servers import ServerPool  # noqa: E402

_SERVERS_ENV = "GQLWIRE_TEST_SERVERS"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--servers",
        default=None,
        help=f"comma-separated servers to test on (default: ${_SERVERS_ENV} or all: "
        f"{','.join(SERVER_NAMES)})",
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "server_name" in metafunc.fixturenames:
        names = selected_servers(metafunc.config)
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
