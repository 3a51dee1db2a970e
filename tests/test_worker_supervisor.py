"""The supervisor of ``serve --workers`` (gqlwire.workers.Supervisor) with stand-in
workers: tiny Python processes that say "ready" on their channel and then exit, crash or
wait, so that its rules (startup failure, restarts and their bound, the stop and its
exit status) are checked in a second, without any server."""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Iterator

import pytest

from gqlwire import runners, workers

# argv: channel fd, behaviour. "ready" is what a real worker writes once it listens.
WORKER = """
import os, signal, sys, time
channel, behaviour = int(sys.argv[1]), sys.argv[2]
if behaviour == "fail-at-start":
    sys.exit(3)
if behaviour == "ignore-sigterm":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
os.write(channel, b"ready\\n")
if behaviour == "crash":
    sys.exit(4)
time.sleep(30)
"""

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the supervisor is POSIX only")


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    with runners.bind_listening_socket("127.0.0.1", 0) as sock:
        yield sock


@pytest.fixture(autouse=True)
def quick_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "_RESTART_FIRST_DELAY", 0.01)
    monkeypatch.setattr(workers, "_RESTART_MAX_DELAY", 0.02)
    monkeypatch.setattr(workers, "_MAX_FAILURES", 3)
    monkeypatch.setattr(workers, "_STOP_TIMEOUT", 10.0)


def command(behaviour: str) -> workers.WorkerCommand:
    def argv(listen_fd: int, channel_fd: int, index: int) -> list[str]:
        return [sys.executable, "-c", WORKER, str(channel_fd), behaviour]

    return argv


def supervise(
    sock: socket.socket, behaviour: str, on_announce: object = None, count: int = 2
) -> tuple[int, list[str], int]:
    """Run a supervisor to its end: (exit status, its reports, announcements)."""
    reports: list[str] = []
    announced = 0

    def announce() -> None:
        nonlocal announced
        announced += 1
        if callable(on_announce):
            on_announce()

    supervisor = workers.Supervisor(count, sock, command(behaviour), announce, reports.append)
    return supervisor.run(), reports, announced


def stop_signal() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def test_a_worker_failing_at_startup_stops_everything_with_its_status(
    listening: socket.socket,
) -> None:
    status, reports, announced = supervise(listening, "fail-at-start")
    assert (status, announced) == (3, 0)
    assert "exited with status 3 before it listened; stopping" in reports[0]


def test_a_crash_loop_is_bounded(listening: socket.socket) -> None:
    status, reports, announced = supervise(listening, "crash", count=1)
    assert (status, announced) == (4, 1)
    # Started again after each of the first 3 deaths, then the 4th ends it.
    assert sum("starting worker 1 again" in line for line in reports) == 3
    assert reports[-1].startswith("worker 1 died 3 times in a row")


def test_a_stop_signal_stops_every_worker_with_status_0(listening: socket.socket) -> None:
    status, reports, announced = supervise(listening, "wait", on_announce=stop_signal)
    assert (status, reports, announced) == (0, [], 1)


def test_a_second_signal_kills_workers_that_do_not_stop(listening: socket.socket) -> None:
    def two_signals() -> None:
        stop_signal()
        stop_signal()

    status, reports, announced = supervise(listening, "ignore-sigterm", on_announce=two_signals)
    assert (status, announced) == (1, 1)
    assert "second stop signal: killing the workers" in reports
    assert sum("was killed by SIGKILL" in line for line in reports) == 2


def test_the_worker_count_is_bounded(listening: socket.socket) -> None:
    for count in (0, workers.MAX_WORKERS + 1):
        with pytest.raises(ValueError, match="count must be between 1 and 64"):
            workers.Supervisor(count, listening, command("wait"), lambda: None)
