"""``python -m benchmarks.connect_instructions [--quick] [--configs A,B] [--out DIR]``:
server instructions per connect + subscribe, counted by callgrind.

The connect scenario's wall-clock ratio moves by a tenth from one round to the next on
a shared machine, mostly with where the garbage collector's full collection falls. The
number of instructions the server executes for the same connections does not move:
each server runs under ``valgrind --tool=callgrind``, and the load generator (outside
valgrind) opens connections as the connect scenario does: connect, ``connection_init``,
``connection_ack``, ``subscribe`` to one channel, 64 handshakes in flight at once.

How a count is taken, per configuration: a first round of connections warms the
server up (imports done, bytecode specialized, caches filled) and is closed again;
callgrind's counters are then zeroed (``callgrind_control -z``), the measured round is
opened, and once the server has gone quiet the counters are dumped
(``callgrind_control -d``). The count per connection is the dump's total divided by
the connections; the garbage collector's share is the inclusive count of CPython's
``gc_collect_main``. ``PYTHONHASHSEED=0`` and ``setarch -R`` make repeated runs give
nearly the same counts (the order in which the connections' packets arrive still
varies a little).

gqlwire runs with ``keep_alive`` off (``GQLWIRE_BENCH_KEEP_ALIVE=off``): under callgrind
a round lasts long enough for its 12-second pings to fire, which no wall-clock round
does, and which the raw server does not send.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .configs import CONFIGS_BY_NAME, ServerConfig
from .driver import _free_port
from .instructions import _child_env, _dump_total, _no_aslr, valgrind_version
from .loadgen import Server, close_all, new_channel, open_many
from .wsclient import Tally

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

DEFAULT_CONFIGS = ("raw-aiohttp", "gqlwire-aiohttp")
FULL = {"warmup": 300, "connections": 1000}
QUICK = {"warmup": 20, "connections": 50}
CONCURRENCY = 64  # handshakes in flight at once, as in the connect scenario

_START_TIMEOUT = 600.0  # importing graphql-core under callgrind takes a while
_ROUND_TIMEOUT = 900.0
_QUIET_POLL = 0.5  # seconds between two readings of the server's CPU time
_QUIET_READINGS = 3  # readings in a row with (almost) no CPU used: the round is over
_QUIET_CPU_SHARE = 0.06  # at most this share of a core between two readings


class CallgrindServer:
    """One benchmark server under callgrind, in its own process group."""

    def __init__(self, config: ServerConfig, work: Path) -> None:
        self.config = config
        self.port = _free_port()
        self.out = work / f"{config.name}.callgrind"
        env = _child_env()
        env["GQLWIRE_BENCH_KEEP_ALIVE"] = "off"
        self._log = (work / f"{config.name}.log").open("wb")
        self.process = subprocess.Popen(
            [
                *_no_aslr(),
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={self.out}",
                config.interpreter or sys.executable,
                "-m",
                "benchmarks.serve",
                config.name,
                "--port",
                str(self.port),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def control(self, option: str) -> None:
        """``callgrind_control`` on this server: ``-z`` zeroes, ``-d`` dumps."""
        subprocess.run(
            ["callgrind_control", option, str(self.process.pid)],
            capture_output=True,
            check=True,
            timeout=120,
        )

    def cpu_seconds(self) -> float:
        """User and system time so far (valgrind runs the server in its own process)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def dumps(self) -> list[Path]:
        """The dumps ``-d`` wrote, in order (``<out>.1``, ``<out>.2``, ...)."""
        found = [p for p in self.out.parent.glob(self.out.name + ".*") if p.suffix[1:].isdigit()]
        return sorted(found, key=lambda path: int(path.suffix[1:]))

    def stop(self) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self._log.close()


async def _wait_ready(server: Server, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError("the server exited at startup (see its log)")
        try:
            await server.stats()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no answer within {_START_TIMEOUT:.0f} s") from None
            await asyncio.sleep(0.5)


async def _wait_quiet(target: CallgrindServer) -> None:
    """Until the server has used (almost) no CPU for a few readings in a row: every
    handshake and subscribe it was sent has been processed."""
    deadline = time.monotonic() + _ROUND_TIMEOUT
    quiet = 0
    last = target.cpu_seconds()
    while quiet < _QUIET_READINGS:
        await asyncio.sleep(_QUIET_POLL)
        now = target.cpu_seconds()
        quiet = quiet + 1 if now - last <= _QUIET_POLL * _QUIET_CPU_SHARE else 0
        last = now
        if time.monotonic() > deadline:
            raise TimeoutError(f"the server did not go quiet within {_ROUND_TIMEOUT:.0f} s")


async def _round(
    target: CallgrindServer, server: Server, count: int, counted: bool
) -> dict[str, Any] | None:
    """``count`` connections, each subscribed; for a counted round, what the server
    executed for them."""
    params = {"host": "127.0.0.1", "port": target.port, "concurrency": CONCURRENCY}
    channel = new_channel("connect")
    tally = Tally()
    tally.expect(count, 1)
    subscribers = []
    result = None
    try:
        if counted:
            target.control("-z")
        subscribers = await open_many(params, channel, count, tally)
        await _wait_quiet(target)
        if counted:
            target.control("-d")
        # Checked after the count (these requests are not counted): every subscription
        # runs, and an event reaches every subscriber.
        await server.wait_subscribers(count, within=_ROUND_TIMEOUT)
        await server.publish(channel, 1)
        if not await tally.wait(within=_ROUND_TIMEOUT, idle=60):
            raise RuntimeError("the event did not reach every subscriber")
        if counted:
            result = _count(target.dumps()[-1], count)
    finally:
        await close_all(server, subscribers)
    return result


def _count(dump: Path, connections: int) -> dict[str, Any]:
    total = _dump_total(dump)
    collector = _inclusive(dump, "gc_collect_main")
    return {
        "connections": connections,
        "instructions": total,
        "per_connection": total / connections,
        "gc_per_connection": collector / connections,
    }


def _inclusive(dump: Path, function: str) -> int:
    """The inclusive count of a C function in a dump (0 if it never ran)."""
    done = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(dump)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    pattern = re.compile(rf"^\s*([\d,]+) .*:{re.escape(function)} ")
    for line in done.stdout.splitlines():
        found = pattern.match(line)
        if found:
            return int(found.group(1).replace(",", ""))
    return 0


async def measure_config(config: ServerConfig, sizes: dict[str, int], work: Path) -> dict[str, Any]:
    target = CallgrindServer(config, work)
    try:
        server = Server("127.0.0.1", target.port)
        await _wait_ready(server, target.process)
        await _round(target, server, sizes["warmup"], counted=False)
        result = await _round(target, server, sizes["connections"], counted=True)
        assert result is not None
        return result
    finally:
        target.stop()


def measure(
    configs: list[ServerConfig], sizes: dict[str, int], log: Callable[[str], None] = print
) -> dict[str, Any]:
    version = valgrind_version()
    if version is None or shutil.which("callgrind_control") is None:
        raise RuntimeError("valgrind is not installed (apt-get install -y valgrind)")
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "valgrind": version,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": f"{platform.machine()}, Linux {platform.release()}",
        **sizes,
    }
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gqlwire-connect-callgrind-") as work:
        for config in configs:
            log(f"{config.name}: {sizes['connections']} connections under callgrind")
            results[config.name] = asyncio.run(measure_config(config, sizes, Path(work)))
    return {"meta": meta, "results": results}


def markdown(data: dict[str, Any]) -> str:
    meta, results = data["meta"], data["results"]
    lines = [
        "# Server instructions per connect + subscribe",
        "",
        f"- Run: {meta['date']}, {meta['valgrind']}, {meta['python']}, {meta['machine']}",
        f"- {meta['connections']:,} connections counted after {meta['warmup']:,} warming "
        "up: connect, init, ack, subscribe",
        "",
        "| server | instructions per connection | of which the garbage collector | raw ÷ this |",
        "|---|---:|---:|---:|",
    ]
    for name, result in results.items():
        raw = CONFIGS_BY_NAME[name].raw
        base = results.get(raw)
        ratio = f"{base['per_connection'] / result['per_connection']:.2f}x" if base else "-"
        lines.append(
            f"| `{name}` | {result['per_connection']:,.0f} | "
            f"{result['gc_per_connection']:,.0f} | {ratio} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small rounds (a smoke run)")
    parser.add_argument(
        "--configs",
        default=",".join(DEFAULT_CONFIGS),
        help="comma-separated server configurations (see benchmarks/README.md)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the results go")
    args = parser.parse_args(argv)
    configs = [CONFIGS_BY_NAME[name] for name in args.configs.split(",")]
    data = measure(configs, QUICK if args.quick else FULL)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "connect_instructions.json").write_text(json.dumps(data, indent=2) + "\n")
    report = markdown(data)
    (args.out / "connect_instructions.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
