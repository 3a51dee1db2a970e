"""Fixtures of the interop tests (helpers: :mod:`tests.interop.support`).

- ``interop``: the interop app on ``server_name`` (one process per server name for the
  session); after each test, the part of the server log the test caused must hold no
  traceback and no error line.
- ``token``: a key unique to the test; clients send it in their connection params, and
  the app records everything under it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.harness.servers import ServerPool, ServerProcess

from .support import INTEROP_APP, InteropServer


@pytest.fixture(scope="module")
def interop_process(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(INTEROP_APP, server_name)


@pytest.fixture
def interop(interop_process: ServerProcess) -> Iterator[InteropServer]:
    assert interop_process.running(), interop_process.log()
    server = InteropServer(interop_process, interop_process.log_offset())
    yield server
    server.check_log()


@pytest.fixture
def token() -> str:
    return uuid.uuid4().hex
