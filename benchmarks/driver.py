"""Runs every scenario against every server configuration and writes the report.

Each configuration gets one fresh server process (pinned to CPU 0, except granian,
whose I/O threads need the other core too), started at the beginning and idle while
the others are measured; each scenario runs in a fresh load generator process (pinned
to CPU 1). Every process started here is stopped here, with bounded waits.
"""

from __future__ import annotations

import http.client
import importlib.metadata
import json
import os
import platform
import pstats
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .configs import FULL, QUICK, ServerConfig, shown_path

ROOT = Path(__file__).resolve().parents[1]
"""The repository root: the working directory of every process started here."""

SERVER_CPU, CLIENT_CPU = 0, 1
_READY_TIMEOUT = 30.0
_STOP_TIMEOUT = 15.0
_PACKAGES = (
    "gqlwire",
    "graphql-core",
    "orjson",
    "aiohttp",
    "uvicorn",
    "websockets",
    "granian",
    "strawberry-graphql",
    "ariadne",
    "starlette",
)

Log = Callable[[str], None]


def _pinning(cpu: int) -> Callable[[], None] | None:
    """A preexec function pinning the child to ``cpu``, when the machine has it."""
    if not hasattr(os, "sched_setaffinity") or cpu not in os.sched_getaffinity(0):
        return None
    if len(os.sched_getaffinity(0)) < 2:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """One benchmark server (``python -m benchmarks.serve``) in its own process group."""

    def __init__(self, config: ServerConfig, log_dir: Path) -> None:
        self.config = config
        self.log_path = log_dir / f"{config.name}.log"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.port = _free_port()
        python = self.config.interpreter
        if python == "":
            raise RuntimeError(
                "no graphql-core 3.2 interpreter: create .venvs/graphql-core-3.2 with "
                "scripts/test_matrix.py, or give one with --python-gc32"
            )
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    python or sys.executable,
                    "-m",
                    "benchmarks.serve",
                    self.config.name,
                    "--port",
                    str(self.port),
                ],
                cwd=ROOT,
                env=_child_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_pinning(SERVER_CPU) if self.config.pinned else None,
            )
        deadline = time.monotonic() + _READY_TIMEOUT
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.config.name} exited at startup:\n{self.log()[-2000:]}")
            try:
                self.stats()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.config.name} did not answer within {_READY_TIMEOUT} s"
                    ) from None
                time.sleep(0.1)

    @property
    def pid(self) -> int:
        assert self._process is not None, "start() first"
        return self._process.pid

    def stats(self) -> dict[str, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", "/_stats")
            result: dict[str, Any] = json.loads(connection.getresponse().read())
            return result
        finally:
            connection.close()

    def stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(_STOP_TIMEOUT)
        # Whatever is left of the group (granian's worker) goes too.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_problems(self) -> dict[str, Any]:
        text = self.log()
        lines = text.splitlines()
        tracebacks = text.count("Traceback (most recent call last)")
        errors = [line for line in lines if "ERROR" in line or "Error" in line]
        return {"tracebacks": tracebacks, "error_lines": len(errors), "first_errors": errors[:5]}


@contextmanager
def running(config: ServerConfig, log_dir: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(config, log_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def run_loadgen(params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One scenario in a fresh load generator process; its JSON result, or an error."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.loadgen", json.dumps(params)],
            cwd=ROOT,
            env=_child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            preexec_fn=_pinning(CLIENT_CPU),
        )
    except subprocess.TimeoutExpired:
        return {"error": f"load generator did not finish within {timeout:.0f} s", "ok": False}
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-6:]
        return {"error": " | ".join(tail) or f"exit status {done.returncode}", "ok": False}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One result for repeated runs: the run with the least server CPU per message (per
    connection, for the connect scenario), the least disturbed by other load, its best
    rate, and every run for reference."""
    if len(runs) == 1:
        return runs[0]
    good = [run for run in runs if "error" not in run]
    if not good:
        return runs[0]
    per_connection = "connections_per_s" in good[0]
    cost = "server_cpu_us_per_connection" if per_connection else "server_cpu_us_per_msg"
    rate = "connections_per_s" if per_connection else "msgs_per_s"
    chosen: dict[str, Any] = min(good, key=lambda run: run.get(cost) or float("inf"))
    best = dict(chosen)
    best[rate] = max(run.get(rate, 0.0) for run in good)
    best["ok"] = all(run.get("ok") for run in runs)
    best["runs"] = runs
    return best


def _scenario_timeout(name: str, params: dict[str, Any]) -> float:
    if name == "latency":
        return float(params["duration"]) + 240
    return 300.0


def _address(server: ServerProcess) -> dict[str, Any]:
    return {"port": server.port, "host": "127.0.0.1", "path": "/graphql"}


def _settle(server: ServerProcess, within: float = 20.0) -> None:
    """Wait until ``server`` has no subscriber left and its CPU is quiet: another
    server's measurement must not pay for this one's cleanup."""
    deadline = time.monotonic() + within
    before = server.stats()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = server.stats()
        quiet = now["cpu"] - before["cpu"] < 0.01  # under 5 % of a core
        if quiet and not now["subscribers"] and not now["publishing"]:
            return
        before = now


def _run_scenario(
    server: ServerProcess, name: str, params: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    scenario = "fanout" if name == "single" else name
    started = time.perf_counter()
    result = run_loadgen(
        {**_address(server), **params, **extra, "scenario": scenario},
        _scenario_timeout(name, params),
    )
    result["wall_s"] = time.perf_counter() - started
    with suppress(OSError):
        _settle(server)
    return result


def run_configs(
    configs: list[ServerConfig],
    sizes: dict[str, dict[str, Any]],
    log_dir: Path,
    log: Log,
    *,
    profile: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Every scenario against every configuration, their servers all running at once.

    Scenarios run one after the other; within one, the configurations take turns, and a
    repeated scenario (``repeat``) goes round all of them again. Two configurations are
    thus measured minutes apart at most, never one at the start of the run and the other
    at its end: on a machine shared with other work, what disturbs one run disturbs its
    neighbours too, and the best of the rounds is compared with the best of the rounds.
    """
    results: dict[str, dict[str, Any]] = {config.name: {} for config in configs}
    extra = {"profile": str(profile)} if profile is not None else {}
    with ExitStack() as stack:
        servers: dict[str, ServerProcess] = {}
        for config in configs:
            try:
                server = stack.enter_context(running(config, log_dir))
            except Exception as error:  # a server that does not start: report it, run the others
                results[config.name]["error"] = f"{type(error).__name__}: {error}"
                log(f"  {config.name}: {results[config.name]['error']}")
                continue
            servers[config.name] = server
            results[config.name]["warmup"] = run_loadgen(
                {
                    "port": server.port,
                    "host": "127.0.0.1",
                    "path": "/graphql",
                    "scenario": "warmup",
                },
                120,
            )
        for name, params in sizes.items():
            runs: dict[str, list[dict[str, Any]]] = {config: [] for config in servers}
            for _ in range(int(params.get("repeat", 1))):
                for config_name, server in servers.items():
                    runs[config_name].append(_run_scenario(server, name, params, extra))
            for config_name, config_runs in runs.items():
                result = best_of(config_runs)
                result["scenario_wall_s"] = sum(run["wall_s"] for run in config_runs)
                results[config_name][name] = result
                log(f"  {config_name:<20} {name:<8} {_brief(name, result)}")
        for config_name, server in servers.items():
            server.stop()
            results[config_name]["server_log"] = server.log_problems()
    return results


def _brief(name: str, result: dict[str, Any]) -> str:
    if "error" in result:
        return f"ERROR {result['error'][:160]}"
    status = "ok" if result.get("ok") else "COUNTS WRONG"
    if name in ("fanout", "single"):
        return (
            f"{result['msgs_per_s']:>9,.0f} msgs/s  server {result['server_cpu_us_per_msg']:.1f} "
            f"us/msg  client {result['client_cpu_us_per_msg']:.1f} us/msg  {status}"
        )
    if name == "connect":
        return f"{result['connections_per_s']:>7,.0f} conn/s  {status}"
    if name == "memory":
        return f"{result['kb_per_connection']:.1f} KB/connection"
    if name == "latency":
        return f"p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  {status}"
    if name == "stalled":
        cost = result.get("throughput_cost")
        cost_text = f"{cost * 100:+.1f}%" if cost is not None else "n/a"
        return f"cost {cost_text}  {result.get('outcome')}  {status}"
    return status


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str] = {}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": model or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        # Every server process runs on this interpreter (sys.executable), so on this
        # graphql-core, except those whose configuration names another ("interpreters"):
        # the release decides how subscriptions execute (3.2 or 3.3).
        "graphql_core": versions["graphql-core"],
        "packages": versions,
        "calibration_ms": calibration_ms(),
        "load_average_start": os.getloadavg(),
        "event_loop": "asyncio default (selector) loop in every server and client",
        "pinning": "server process on CPU 0 (granian: not pinned), load generator on CPU 1"
        if _pinning(SERVER_CPU) is not None
        else "none (fewer than 2 CPUs)",
    }


def interpreter_info(python: str) -> dict[str, str]:
    """The runtime and graphql-core release of another interpreter (a configuration's
    ``python``), or why they are unknown."""
    script = (
        "import json, platform, graphql; print(json.dumps({'path': __import__('sys')"
        ".executable, 'python': platform.python_implementation() + ' ' + "
        "platform.python_version(), 'graphql_core': graphql.version}))"
    )
    try:
        done = subprocess.run(
            [python, "-c", script], capture_output=True, text=True, timeout=60, check=True
        )
        info: dict[str, str] = json.loads(done.stdout)
        info["path"] = shown_path(info.get("path", python))
        return info
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        return {"path": shown_path(python), "error": f"{type(error).__name__}: {error}"}


def calibration_ms(repeats: int = 5) -> float:
    """The box's speed for pure Python: the best of a few ``sum(range(10**6))``."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        sum(range(10**6))
        best = min(best, time.perf_counter() - started)
    return best * 1e3


def run(
    configs: list[ServerConfig],
    *,
    quick: bool,
    scenarios: list[str] | None,
    log: Log = print,
) -> dict[str, Any]:
    sizes = dict(QUICK if quick else FULL)
    if scenarios:
        sizes = {name: sizes[name] for name in scenarios}
    started = time.perf_counter()
    meta = machine_info()
    meta["mode"] = "quick" if quick else "full"
    meta["sizes"] = sizes
    # The configurations that run under another interpreter (graphql-core 3.2).
    meta["interpreters"] = {
        config.name: interpreter_info(python)
        for config in configs
        if (python := config.interpreter)
    }
    log(
        f"{meta['cpu_model']}, {meta['cores']} cores, {meta['python']}, "
        f"graphql-core {meta['graphql_core']}, "
        f"sum(range(10**6)) = {meta['calibration_ms']:.1f} ms"
    )
    with tempfile.TemporaryDirectory(prefix="gqlwire-bench-") as logs:
        results = run_configs(configs, sizes, Path(logs), log)
    meta["load_average_end"] = os.getloadavg()
    meta["wall_s"] = time.perf_counter() - started
    return {"meta": meta, "configs": [c.name for c in configs], "results": results}


def profile(
    config: ServerConfig, out_dir: Path, scenario: str = "fanout", log: Log = print
) -> Path:
    """cProfile of the server's event loop during the measured part of the fan-out,
    single-stream or connect scenario; writes and returns a text report."""
    if scenario not in ("fanout", "single", "connect"):
        raise ValueError("only the fanout, single and connect scenarios can be profiled")
    out_dir.mkdir(parents=True, exist_ok=True)
    report = out_dir / f"profile-{config.name}-{scenario}.txt"
    with tempfile.TemporaryDirectory(prefix="gqlwire-bench-") as work:
        stats_path = Path(work) / "server.prof"
        run_configs(
            [config],
            {scenario: {**FULL[scenario], "repeat": 1}},
            Path(work),
            log,
            profile=stats_path,
        )
        with report.open("w") as stream:
            stats = pstats.Stats(str(stats_path), stream=stream)
            stats.strip_dirs()
            stream.write("== by own time ==\n")
            stats.sort_stats("tottime").print_stats(35)
            stream.write("== by cumulative time ==\n")
            stats.sort_stats("cumulative").print_stats(45)
    return report
