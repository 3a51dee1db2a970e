"""``gqlwire serve --workers N``: several processes on one port, sharing events through
Redis, a killed worker replaced, stopped together gracefully, none outliving the command
(even a command killed with SIGKILL).

Runs on aiohttp and uvicorn (the supervisor's shared socket) and on granian (its own
worker model), once each: these are slow scenarios, not a matrix over every server.
Worker processes are found as the serving process's children in ``/proc`` (Linux). The
supervisor's rules on their own are in test_worker_supervisor.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gqlwire import cli
from gqlwire.runners import RunnerError, check_server
from tests.docs.test_readme_commands import commands, expected_output
from tests.docs.test_readme_commands import run as run_readme_command
from tests.harness.redis_server import numsub, redis_url_or_skip
from tests.harness.servers import (
    ServerProcess,
    assert_clean_log,
    free_port,
    server_environment,
    start_server,
)
from tests.harness.waiting import wait_until
from tests.harness.wsclient import WSClient, http_post_json, ws_client

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="finds worker processes in /proc (Linux)"
)

TARGET = "tests.apps.workers_app:schema"
WORKERS = 2
GOING_AWAY = (1001, "Going away")
# What a client sees when the command stops (docs/servers.md): granian's workers have no
# hook to close with 1001 first, and usually drop the connection.
STOP_CLOSE = {"aiohttp": {GOING_AWAY}, "uvicorn": {GOING_AWAY}, "granian": {GOING_AWAY, (1006, "")}}
# granian logs a worker that died as an error, although it starts it again.
EXPECTED_ERRORS = {"granian": [r"Unexpected exit from worker"]}


def _server_param(name: str) -> Any:
    try:
        check_server(name)
    except RunnerError as missing:
        return pytest.param(name, id=name, marks=pytest.mark.skip(reason=str(missing)))
    return pytest.param(name, id=name)


# --------------------------------------------------------------------------- processes


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, or None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def children(pid: int) -> set[int]:
    """The live processes whose parent is `pid`."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[1] == pid and stat[0] not in ("Z", "X"):
                found.add(int(entry))
    return found


def worker_pids(proc: ServerProcess) -> set[int]:
    """The worker processes of a `serve --workers` process (granian's included)."""
    return children(proc.pid)


class WorkerWatch:
    """Remembers every worker seen, and kills those still alive at the end of a test,
    so that a failing test leaves no process behind (the workers are in process groups
    of their own, which stopping the command's group does not reach)."""

    def __init__(self, proc: ServerProcess) -> None:
        self.proc = proc
        self.seen: set[int] = set()

    def pids(self) -> set[int]:
        found = worker_pids(self.proc)
        self.seen |= found
        return found

    def stop(self) -> None:
        self.proc.stop()
        for pid in self.seen:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- clients


async def pid_over_http(proc: ServerProcess) -> int:
    """The pid of the worker that answers a query on a new connection."""
    response = await http_post_json(proc.http_url(), {"query": "{ pid }"})
    assert response.status_code == 200, response.text
    return int(response.json()["data"]["pid"])


async def pids_seen(proc: ServerProcess, wanted: set[int], attempts: int = 200) -> set[int]:
    """Query over new connections until every pid in `wanted` answered (or `attempts`)."""
    seen: set[int] = set()
    for _ in range(attempts):
        seen.add(await pid_over_http(proc))
        if wanted <= seen:
            break
    return seen


async def acknowledged(c: WSClient) -> None:
    await c.send({"type": "connection_init"})
    assert await c.receive() == {"type": "connection_ack"}


async def pid_over_ws(c: WSClient) -> int:
    await c.send({"id": "pid", "type": "subscribe", "payload": {"query": "{ pid }"}})
    result = await c.receive()
    assert result["type"] == "next", result
    assert await c.receive() == {"id": "pid", "type": "complete"}
    return int(result["payload"]["data"]["pid"])


async def one_connection_per_worker(
    opened: contextlib.AsyncExitStack, proc: ServerProcess, pids: set[int]
) -> dict[int, WSClient]:
    """Acknowledged WebSockets, one held on each worker in `pids` (by the worker's pid);
    the others opened on the way are closed with `opened`."""
    clients: dict[int, WSClient] = {}
    for _ in range(200):
        if set(clients) == pids:
            break
        c = await opened.enter_async_context(ws_client(proc.ws_url()))
        await acknowledged(c)
        clients.setdefault(await pid_over_ws(c), c)
    assert set(clients) == pids
    return clients


# --------------------------------------------------------------------------- the server


@dataclass
class Workers:
    proc: ServerProcess
    watch: WorkerWatch
    redis_url: str
    channel: str  # the Redis channel of the room

    def pids(self) -> set[int]:
        return self.watch.pids()


@pytest.fixture(scope="module", params=[_server_param(name) for name in STOP_CLOSE])
def workers(request: pytest.FixtureRequest) -> Iterator[Workers]:
    redis_url = redis_url_or_skip()
    prefix = f"gqlwire-test:{uuid.uuid4().hex[:12]}:"
    env = {"GQLWIRE_TEST_REDIS_URL": redis_url, "GQLWIRE_TEST_CHANNEL_PREFIX": prefix}
    proc = start_server(TARGET, request.param, args=["--workers", str(WORKERS)], env=env)
    watch = WorkerWatch(proc)
    try:
        yield Workers(proc, watch, redis_url, prefix + "room")
    finally:
        watch.stop()


def test_the_listening_line_says_how_many_workers(workers: Workers) -> None:
    lines = [line for line in workers.proc.log().splitlines() if "gqlwire: serving" in line]
    assert len(lines) == 1, workers.proc.log()
    assert lines[0].endswith(f"({workers.proc.server}, {WORKERS} workers)")


async def test_every_worker_serves_new_connections(workers: Workers) -> None:
    proc = workers.proc
    await wait_until(lambda: len(workers.pids()) == WORKERS, "every worker started")
    pids = workers.pids()
    assert proc.pid not in pids
    # Which worker accepts a connection is the kernel's choice: ask until each answered.
    assert await pids_seen(proc, pids) == pids


async def test_subscribers_on_every_worker_get_every_event(workers: Workers) -> None:
    proc = workers.proc
    pids = workers.pids()
    assert len(pids) == WORKERS
    async with contextlib.AsyncExitStack() as opened:
        clients = await one_connection_per_worker(opened, proc, pids)
        subscribe = {"query": "subscription { messages }"}
        for c in clients.values():
            await c.send({"id": "m", "type": "subscribe", "payload": subscribe})

        async def every_worker_subscribed() -> bool:
            return await numsub(workers.redis_url, workers.channel) == WORKERS

        await wait_until(every_worker_subscribed, "each worker subscribed in Redis", 20)
        texts = [f"event {n}" for n in range(5)]
        for text in texts:
            mutation = {"query": "mutation ($t: String!) { send(text: $t) }"}
            sent = await http_post_json(proc.http_url(), {**mutation, "variables": {"t": text}})
            assert sent.json() == {"data": {"send": True}}
        for pid, c in clients.items():
            received = [(await c.receive())["payload"]["data"]["messages"] for _ in texts]
            assert received == [f"{pid}:{text}" for text in texts]
    assert_clean_log(proc)


async def test_a_killed_worker_is_started_again_and_the_others_keep_serving(
    workers: Workers,
) -> None:
    proc = workers.proc
    pids = workers.pids()
    assert len(pids) == WORKERS
    killed = min(pids)
    survivors = pids - {killed}
    os.kill(killed, signal.SIGKILL)
    await wait_until(lambda: not alive(killed), "the worker is gone")
    # The others keep answering new connections meanwhile.
    for _ in range(5):
        assert await pid_over_http(proc) in survivors | workers.pids()

    def replaced() -> bool:
        now = workers.pids()
        return len(now) == WORKERS and killed not in now and survivors <= now

    await wait_until(replaced, "the killed worker was replaced", 20)
    if proc.server != "granian":  # the supervisor's report (granian logs its own)
        assert f"(pid {killed}) was killed by SIGKILL" in proc.log()
    new = workers.pids() - survivors
    assert await pids_seen(proc, new) >= new  # the new worker serves
    assert proc.running()
    assert_clean_log(proc, allow=EXPECTED_ERRORS.get(proc.server, []))


async def test_a_stop_ends_every_worker_gracefully(workers: Workers) -> None:
    """SIGTERM to the command stops every worker gracefully; on aiohttp the command is
    killed instead (SIGKILL), and its workers, left alone, stop just as gracefully."""
    proc = workers.proc
    pids = workers.pids()
    assert len(pids) == WORKERS
    killed = proc.server == "aiohttp"
    async with contextlib.AsyncExitStack() as opened:
        clients = await one_connection_per_worker(opened, proc, pids)
        # To the command only: the workers are in process groups of their own.
        proc.send_signal(signal.SIGKILL if killed else signal.SIGTERM)
        closes = {await c.wait_closed(15) for c in clients.values()}
        status = await asyncio.to_thread(proc.wait, 30)
    assert status == (-signal.SIGKILL if killed else 0), proc.log()
    await wait_until(lambda: not any(alive(pid) for pid in pids), "every worker stopped", 20)
    assert closes <= STOP_CLOSE[proc.server], proc.log()
    assert_clean_log(proc, allow=EXPECTED_ERRORS.get(proc.server, []))


# --------------------------------------------------------------------------- no server


@pytest.mark.parametrize("count", ["0", "65", "two"])
def test_a_bad_worker_count_is_a_usage_error(
    count: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["serve", "tests.apps.cli_schema:schema", "--workers", count])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "--workers" in error
    assert "between 1 and 64" in error or "number of workers" in error


def test_the_sse_single_connection_mode_refuses_workers() -> None:
    """Its state lives in one process: workers sharing a port would lose its requests."""
    target = "tests.apps.workers_app:single_connection_server"
    result = subprocess.run(
        [sys.executable, "-m", "gqlwire", "serve", target, "--port", "0", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=30,
        env=server_environment(),
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2, result
    assert result.stderr.startswith("gqlwire: error: --workers: the SSE single connection mode")
    assert "sticky sessions" in result.stderr


def test_the_readme_command(tmp_path: Path) -> None:
    """The README's "Many workers" command, as printed: one line, then a Ctrl-C (SIGINT
    to the command's process group, which the workers are not in) ends it with 0."""
    for command in commands("workers-commands"):
        port = free_port()
        status, printed = run_readme_command(command, port, tmp_path, serving=True)
        assert (status, printed) == (0, expected_output(command, port)), command
