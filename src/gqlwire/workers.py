"""Many worker processes on one port: the supervisor behind ``gqlwire serve --workers N``.

The command's process (the *supervisor*) binds the listening socket once and starts N
worker processes, each ``python -m gqlwire serve`` with the same arguments plus the
socket's descriptor and one end of a socket pair, the worker's *channel*. Each worker
runs the chosen server on the shared socket with its own event loop, and the kernel
hands each new connection to one of the workers waiting to accept. The design, and why
granian is the exception, is in docs/servers.md ("Many workers").

The channel carries one message, "ready" once the worker listens, and otherwise tells
each side that the other is gone: its end of file is how a worker learns that the
supervisor died (even by SIGKILL), and then it stops itself gracefully.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from . import runners
from .lifeline import stop_self_gracefully

__all__ = [
    "MAX_WORKERS",
    "Supervisor",
    "WorkerCommand",
    "WorkerHandle",
]

MAX_WORKERS = 64
"""The most workers `serve` starts: more is a mistake (a port number, a typo)."""

WorkerCommand = Callable[[int, int, int], list[str]]
"""The command line of a worker: (listening socket's fd, channel's fd, index) -> argv."""

_READY = b"ready\n"
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# Restarts: the first one soon, then twice as late after each death that followed its
# start within _STABLE_AFTER seconds, at most _RESTART_MAX_DELAY apart; a worker that
# dies that way _MAX_FAILURES times in a row is a crash loop, and the supervisor stops.
_RESTART_FIRST_DELAY = 0.5
_RESTART_MAX_DELAY = 30.0
_STABLE_AFTER = 60.0
_MAX_FAILURES = 8
# How long a stop waits for the workers' graceful shutdowns (each is bounded by its
# runner: 5 s for close_all(), 10 s for aiohttp's handlers) before it kills them.
_STOP_TIMEOUT = 30.0
# How often the supervisor looks at its workers when no channel or signal wakes it.
_POLL_INTERVAL = 0.5


def _report(message: str) -> None:
    print(f"gqlwire: {message}", file=sys.stderr, flush=True)


def _describe_exit(status: int) -> str:
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"


# --------------------------------------------------------------------------- in a worker


@dataclass(frozen=True)
class WorkerHandle:
    """A worker's side of the supervisor: the shared listening socket and the channel."""

    index: int
    sock: socket.socket
    channel: socket.socket

    @classmethod
    def adopt(cls, description: str) -> WorkerHandle:
        """Take over the descriptors named by ``"LISTEN_FD,CHANNEL_FD,INDEX"`` (the
        command line's hidden ``--worker`` option) and start watching the supervisor."""
        try:
            listen_fd, channel_fd, index = (int(part) for part in description.split(","))
            sock = socket.socket(fileno=listen_fd)
            channel = socket.socket(fileno=channel_fd)
        except (ValueError, OSError) as error:
            raise runners.RunnerError(f"invalid worker description {description!r}") from error
        # Not handed down further: only this process's exit may end the channel.
        channel.set_inheritable(False)
        handle = cls(index, sock, channel)
        threading.Thread(
            target=handle._watch_supervisor, name="gqlwire-supervisor-watch", daemon=True
        ).start()
        return handle

    def ready(self) -> None:
        """Tell the supervisor that this worker accepts connections."""
        with contextlib.suppress(OSError):  # the supervisor is gone: the watch stops us
            self.channel.sendall(_READY)

    def _watch_supervisor(self) -> None:
        # The supervisor never writes: the read returns at its end of file.
        try:
            while self.channel.recv(64):
                pass
        except OSError:
            pass
        stop_self_gracefully()


# --------------------------------------------------------------------------- the supervisor


@dataclass
class _Worker:
    index: int  # 1-based, as reported
    process: subprocess.Popen[bytes] | None = None
    channel: socket.socket | None = None
    started: float = 0.0
    ready: bool = False
    failures: int = 0  # deaths in a row, each within _STABLE_AFTER of its start
    restart_at: float | None = None
    restarted: bool = False


class Supervisor:
    """Starts `count` workers on `sock`, restarts those that die, and stops them all on
    SIGINT or SIGTERM. `run()` returns the command's exit status.

    `announce` is called once, when every worker first listens. Status: 0 after a
    requested stop in which every worker stopped cleanly; 1 if one did not, if the stop
    had to kill, or if a worker crashed in a loop; a worker's own status (2 for a
    one-line error) if it failed before the first announcement.
    """

    def __init__(
        self,
        count: int,
        sock: socket.socket,
        command: WorkerCommand,
        announce: Callable[[], None],
        report: Callable[[str], None] = _report,
    ) -> None:
        if not 1 <= count <= MAX_WORKERS:
            raise ValueError(f"count must be between 1 and {MAX_WORKERS}, not {count}")
        self._sock = sock
        self._command = command
        self._announce = announce
        self._report = report
        self._workers = [_Worker(index) for index in range(1, count + 1)]
        self._selector = selectors.DefaultSelector()
        self._announced = False
        self._signals = 0
        self._signals_handled = 0
        self._stop_deadline: float | None = None
        self._status = 0

    # ---- signals

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1  # the wake-up descriptor interrupts the loop's select()

    def _handle_signals(self) -> None:
        while self._signals_handled < self._signals:
            self._signals_handled += 1
            if self._stop_deadline is None:
                self._begin_stop()
            else:
                self._report("second stop signal: killing the workers")
                self._kill_all()

    # ---- the loop

    def run(self) -> int:
        wake_read, wake_write = socket.socketpair()
        wake_read.setblocking(False)
        wake_write.setblocking(False)
        previous_wakeup = signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
        previous_handlers = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        self._selector.register(wake_read, selectors.EVENT_READ, None)
        try:
            if runners.stop_requested():  # a signal before our handlers were installed
                return 0
            for worker in self._workers:
                self._start(worker)
            return self._loop(wake_read)
        finally:
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_wakeup)
            self._kill_all()  # nothing left behind, whatever ended the loop
            for worker in self._workers:
                self._forget(worker)
            self._selector.close()
            wake_read.close()
            wake_write.close()

    def _loop(self, wake_read: socket.socket) -> int:
        while True:
            self._handle_signals()
            for worker in self._workers:
                if worker.process is not None:
                    status = worker.process.poll()
                    if status is not None:
                        self._exited(worker, status)
            now = time.monotonic()
            if self._stop_deadline is not None:
                if all(worker.process is None for worker in self._workers):
                    return self._status
                if now >= self._stop_deadline:
                    self._report(
                        f"workers still running {_STOP_TIMEOUT:g} s after the stop: killed"
                    )
                    self._kill_all()
                    self._status = 1
            else:
                for worker in self._workers:
                    if worker.restart_at is not None and now >= worker.restart_at:
                        worker.restart_at = None
                        self._start(worker)
            for key, _ in self._selector.select(self._next_timeout(now)):
                if key.data is None:
                    with contextlib.suppress(OSError):
                        while wake_read.recv(512):
                            pass
                else:
                    self._read_channel(key.data)

    def _next_timeout(self, now: float) -> float:
        timeout = _POLL_INTERVAL
        for worker in self._workers:
            if worker.restart_at is not None:
                timeout = min(timeout, max(0.0, worker.restart_at - now))
            elif worker.process is not None and worker.channel is None:
                timeout = min(timeout, 0.05)  # its channel ended: it is exiting
        return timeout

    # ---- one worker

    def _start(self, worker: _Worker) -> None:
        ours, theirs = socket.socketpair()
        try:
            argv = self._command(self._sock.fileno(), theirs.fileno(), worker.index)
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                pass_fds=(self._sock.fileno(), theirs.fileno()),
                # Its own process group: a Ctrl-C in a terminal reaches the supervisor
                # only, which stops each worker once (a second SIGINT would hurry some
                # servers' shutdown).
                process_group=0,
            )
        except OSError as error:
            ours.close()
            self._report(f"cannot start worker {worker.index}: {error}")
            self._failed(worker, time.monotonic(), 1)
            return
        finally:
            theirs.close()
        ours.setblocking(False)
        self._selector.register(ours, selectors.EVENT_READ, worker)
        worker.process, worker.channel = process, ours
        worker.started, worker.ready = time.monotonic(), False

    def _read_channel(self, worker: _Worker) -> None:
        channel = worker.channel
        if channel is None:
            return
        try:
            data = channel.recv(64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_channel(worker)
            return
        if _READY.strip() in data and not worker.ready:
            worker.ready = True
            if worker.restarted and worker.process is not None:
                self._report(f"worker {worker.index} started again (pid {worker.process.pid})")
            if not self._announced and all(w.ready for w in self._workers):
                self._announced = True
                self._announce()

    def _exited(self, worker: _Worker, status: int) -> None:
        assert worker.process is not None
        pid, ran = worker.process.pid, time.monotonic() - worker.started
        self._forget(worker)
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # its gauges stop counting
            from .metrics import worker_ended

            worker_ended(pid)
        if self._stop_deadline is not None:
            if status not in (0, -signal.SIGTERM):
                self._report(f"worker {worker.index} (pid {pid}) {_describe_exit(status)}")
                self._status = self._status or 1  # the status of what began the stop wins
            return
        if not self._announced:
            self._report(
                f"worker {worker.index} (pid {pid}) {_describe_exit(status)} before it "
                "listened; stopping"
            )
            self._status = status if status > 0 else 1
            self._begin_stop()
            return
        self._report(f"worker {worker.index} (pid {pid}) {_describe_exit(status)}")
        self._failed(worker, ran, status)

    def _failed(self, worker: _Worker, ran: float, status: int) -> None:
        """Schedule a restart of `worker`, which ran `ran` seconds, or stop on a crash loop."""
        worker.failures = 1 if ran >= _STABLE_AFTER else worker.failures + 1
        if worker.failures > _MAX_FAILURES:
            self._report(
                f"worker {worker.index} died {_MAX_FAILURES} times in a row, each within "
                f"{_STABLE_AFTER:g} s of its start; stopping"
            )
            self._status = status if status > 0 else 1
            self._begin_stop()
            return
        if not self._announced:
            self._status = status if status > 0 else 1
            self._begin_stop()
            return
        delay = min(_RESTART_FIRST_DELAY * 2 ** (worker.failures - 1), _RESTART_MAX_DELAY)
        self._report(f"starting worker {worker.index} again in {delay:g} s")
        worker.restart_at = time.monotonic() + delay
        worker.restarted = True

    def _close_channel(self, worker: _Worker) -> None:
        channel, worker.channel = worker.channel, None
        if channel is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(channel)
            channel.close()

    def _forget(self, worker: _Worker) -> None:
        self._close_channel(worker)
        worker.process, worker.ready = None, False

    # ---- stopping

    def _begin_stop(self) -> None:
        if self._stop_deadline is not None:
            return
        self._stop_deadline = time.monotonic() + _STOP_TIMEOUT
        for worker in self._workers:
            worker.restart_at = None
            if worker.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)

    def _kill_all(self) -> None:
        for worker in self._workers:
            process = worker.process
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(5)
