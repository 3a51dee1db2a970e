"""The stop request of the runners: a SIGINT/SIGTERM is never lost, whenever it lands.

A Python signal handler runs in the main thread between any two bytecodes, so it can
interrupt `on_stop` itself, the moment a runner registers what a stop must do. These
tests run the handler at every line that `on_stop` executes (its own and those of what it
calls) and check that the callback then runs exactly once.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

from gqlwire import runners


def _on_stop_with_signal_at_line(line: int) -> tuple[int, int]:
    """Register a callback while a signal is handled just before the `line`-th line
    event under `on_stop`. Returns (times the callback ran, line events seen)."""
    request = runners._StopRequest()
    ran = 0

    def callback() -> None:
        nonlocal ran
        ran += 1

    seen = 0

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal seen
        if event == "line":
            seen += 1
            if seen == line:
                request._handle(signal.SIGTERM, None)
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        request.on_stop(callback)
    finally:
        sys.settrace(previous)
    return ran, seen


def test_a_signal_anywhere_in_on_stop_runs_the_callback_once() -> None:
    _, lines = _on_stop_with_signal_at_line(0)  # no signal: how many lines there are
    assert lines >= 2
    for line in range(1, lines + 1):
        ran, _ = _on_stop_with_signal_at_line(line)
        assert ran == 1, f"a signal before line event {line} of on_stop: ran {ran} times"


def test_a_signal_before_registration_runs_the_callback_at_once() -> None:
    request = runners._StopRequest()
    request._handle(signal.SIGTERM, None)
    ran: list[str] = []
    request.on_stop(lambda: ran.append("stop"))
    assert ran == ["stop"]


def test_a_signal_after_registration_runs_each_callback_once() -> None:
    request = runners._StopRequest()
    ran: list[str] = []
    request.on_stop(lambda: ran.append("first"))
    request.on_stop(lambda: ran.append("second"))
    assert ran == []
    request._handle(signal.SIGTERM, None)
    request._handle(signal.SIGINT, None)  # a second signal: nothing is left to run
    assert ran == ["first", "second"]
