"""The broker benchmark: events through each broker between processes, one worker
against two, with and without history, side by side in one run.

    python -m benchmarks.broker_fanout            # full run (a few minutes)
    python -m benchmarks.broker_fanout --quick    # a smoke run (seconds)
    python -m benchmarks.broker_fanout --brokers pubsub,streams --out DIR

Every row is a broker and a number of server workers: ``python -m gqlwire serve
benchmarks.apps.broker_app:server`` on aiohttp (``--workers 2`` for two), WebSocket
subscribers spread over its workers (:mod:`.broker_loadgen` ``subscribe``), and a
publisher in a process of its own (:mod:`.broker_loadgen` ``publish``) that puts the
publish time in each event. The ``raw`` rows are the broker alone: a publisher process
and a subscriber process, no GraphQL. The in-process ``MemoryBroker`` is the one-worker
baseline (its publisher asks the server to publish, over HTTP).

Two scenarios: ``throughput`` publishes the events back to back (delivered events/s,
publisher's events/s, server CPU per delivered event) and ``latency`` publishes at a
steady rate (publish-to-deliver p50/p99 over every subscriber's every event). The
servers start at the beginning and stay up; within a scenario, round after round, every
row takes its turn, so that other work on the machine hits every row alike, and each
row's median round is reported with the spread of its rounds. Every subscriber must get
every event, in order, once; a row whose counts are wrong says so.

Writes ``broker_fanout.json`` (every measurement) and ``broker_fanout.md`` (the tables).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .driver import ROOT, Log, _child_env, _free_port, machine_info
from .feed import machine_busy

RESULTS = Path(__file__).resolve().parent / "results"
BROKERS = ("memory", "pubsub", "streams", "jetstream")
AT_MOST_ONCE = ("memory", "pubsub")
"""Brokers without history: a subscription that falls behind by more than its queue
(``max_queued``) loses events, by design; the others replay them from history."""
BROKER_NAMES = {
    "memory": "MemoryBroker",
    "pubsub": "RedisBroker (pub/sub)",
    "streams": "RedisStreamBroker (Streams)",
    "jetstream": "NatsBroker (JetStream)",
}
SCENARIOS = ("throughput", "latency")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"

FULL: dict[str, Any] = {
    "mode": "full",
    "subscribers": 100,
    "raw_subscribers": 1,
    "throughput_events": 2000,
    # 5,000 deliveries/s: well below what one loaded worker delivers, so that latency is
    # the path's, not a queue's.
    "latency_rate": 50.0,
    "latency_events": 500,
    "rounds": 3,
    "warmup": True,
}
QUICK: dict[str, Any] = {
    "mode": "quick",
    "subscribers": 4,
    "raw_subscribers": 1,
    "throughput_events": 50,
    "latency_rate": 100.0,
    "latency_events": 20,
    "rounds": 1,
    "warmup": False,
}

_READY_TIMEOUT = 30.0
_STOP_TIMEOUT = 15.0
_RUN_TIMEOUT = 180.0


@dataclass(frozen=True)
class Row:
    """One line of the report: a broker, behind GraphQL servers or alone."""

    broker: str
    workers: int  # 0: the raw broker, no GraphQL server

    @property
    def key(self) -> str:
        return f"{self.broker}/raw" if self.raw else f"{self.broker}/{self.workers}w"

    @property
    def raw(self) -> bool:
        return self.workers == 0


def rows(brokers: tuple[str, ...]) -> list[Row]:
    """The GraphQL rows (one worker and two; memory: one only), then the raw ones."""
    found = [Row(broker, 1) for broker in brokers]
    found += [Row(broker, 2) for broker in brokers if broker != "memory"]
    found += [Row(broker, 0) for broker in brokers if broker != "memory"]
    return found


@dataclass(frozen=True)
class Backend:
    """Where the brokers are, and this run's own names on them."""

    redis_url: str
    nats_url: str
    prefix: str  # channel, stream-key and subject prefix, unique to the run
    stream: str  # the JetStream stream's name, unique to the run

    def url(self, broker: str) -> str:
        return self.nats_url if broker == "jetstream" else self.redis_url

    def env(self, broker: str) -> dict[str, str]:
        return {
            "GQLWIRE_BENCH_BROKER": broker,
            "GQLWIRE_BENCH_URL": self.url(broker),
            "GQLWIRE_BENCH_PREFIX": self.prefix,
            "GQLWIRE_BENCH_STREAM": self.stream,
        }


def new_backend() -> Backend:
    run = uuid.uuid4().hex[:8]
    return Backend(
        redis_url=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
        nats_url=os.environ.get("NATS_URL", DEFAULT_NATS_URL),
        prefix=f"gqlwire-bench-{run}:",
        stream=f"GQLWIRE_BENCH_{run.upper()}",
    )


# --------------------------------------------------------------------------- processes


def _process_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its live children (the workers of ``--workers``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def broker_server_cpu(broker: str, backend: Backend) -> float | None:
    """CPU seconds the Redis or NATS server has spent so far, or ``None`` when it cannot
    be read: Redis says it (``INFO cpu``); NATS is found in ``/proc`` by its port."""
    if broker in ("pubsub", "streams"):
        import redis

        client = redis.Redis.from_url(backend.redis_url, socket_timeout=5)
        try:
            info = client.info("cpu")
            return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        except (redis.RedisError, KeyError, ValueError):
            return None
        finally:
            client.close()
    if broker == "jetstream":
        port = backend.nats_url.rsplit(":", 1)[-1].strip("/")
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                arguments = Path(f"/proc/{entry}/cmdline").read_bytes().decode().split("\0")
            except (OSError, UnicodeDecodeError):
                continue
            if not arguments or not arguments[0].endswith("nats-server"):
                continue
            listens = port in arguments or any(a.endswith(f":{port}") for a in arguments)
            if listens or (port == "4222" and not {"-p", "--port"} & set(arguments)):
                return _process_cpu(int(entry))
    return None


class BrokerServer:
    """``gqlwire serve`` of the benchmark app for one row, in its own process group."""

    def __init__(self, row: Row, backend: Backend, log_dir: Path) -> None:
        self.row = row
        self.port = _free_port()
        self.log_path = log_dir / f"server-{row.broker}-{row.workers}w.log"
        env = _child_env() | backend.env(row.broker)
        command = [
            sys.executable,
            "-m",
            "gqlwire",
            "serve",
            "benchmarks.apps.broker_app:server",
            "--server",
            "aiohttp",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if row.workers > 1:
            command += ["--workers", str(row.workers)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT
        pids: set[int] = set()
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.row.key} server exited:\n{self.log()[-2000:]}")
            with suppress(OSError, ValueError, KeyError):
                pids.add(self.pid_over_http())
                if len(pids) >= self.row.workers or time.monotonic() > deadline:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.row.key} server did not answer in {_READY_TIMEOUT} s")
            time.sleep(0.1)

    def pid_over_http(self) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request(
                "POST", "/graphql", b'{"query": "{ pid }"}', {"Content-Type": "application/json"}
            )
            return int(json.loads(connection.getresponse().read())["data"]["pid"])
        finally:
            connection.close()

    def cpu(self) -> float:
        return _process_cpu(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # the supervisor stops its workers
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(_STOP_TIMEOUT)
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(5)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_problems(self) -> dict[str, Any]:
        text = self.log()
        errors = [line for line in text.splitlines() if "ERROR" in line or "Error" in line]
        return {
            "tracebacks": text.count("Traceback (most recent call last)"),
            "error_lines": len(errors),
            "first_errors": errors[:5],
        }


class ClientProcess:
    """A :mod:`.broker_loadgen` process taking one run after another over its stdin,
    started again if it ever stops answering."""

    def __init__(self, role: str) -> None:
        self.role = role
        self._process: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[bytes] = queue.Queue()

    def _start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.broker_loadgen", self.role],
            cwd=ROOT,
            env=_child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        lines: queue.Queue[bytes] = queue.Queue()
        stdout = process.stdout
        assert stdout is not None

        def read() -> None:
            for line in stdout:
                lines.put(line)
            lines.put(b"")  # the process ended

        threading.Thread(target=read, daemon=True).start()
        self._process, self._lines = process, lines
        return process

    def send(self, value: dict[str, Any] | str) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            process = self._start()
        assert process.stdin is not None
        text = value if isinstance(value, str) else json.dumps(value)
        process.stdin.write(text.encode() + b"\n")
        process.stdin.flush()

    def receive(self, timeout: float = _RUN_TIMEOUT) -> dict[str, Any]:
        """The next JSON line; an error (and a restart next time) when there is none."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"{self.role}: no answer within {timeout:.0f} s") from None
        if not line:
            tail = self._stderr_tail()
            self.stop()
            raise RuntimeError(f"{self.role} exited: {tail}")
        value: dict[str, Any] = json.loads(line)
        if "error" in value:
            raise RuntimeError(f"{self.role}: {value['error']}")
        return value

    def _stderr_tail(self) -> str:
        process = self._process
        if process is None or process.stderr is None:
            return ""
        with suppress(subprocess.TimeoutExpired):
            process.wait(5)
        if process.poll() is None:
            return "(still running)"
        return " | ".join(process.stderr.read().decode(errors="replace").strip().splitlines()[-6:])

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            with suppress(OSError):
                process.stdin.close()  # the end of its commands: it closes its brokers
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@dataclass
class Clients:
    subscriber: ClientProcess
    publisher: ClientProcess


def run_once(
    row: Row,
    scenario: str,
    size: dict[str, Any],
    backend: Backend,
    server: BrokerServer | None,
    clients: Clients,
    label: str,
) -> dict[str, Any]:
    """One measurement: subscribers ready, then the publisher goes; both results."""
    events = int(size[f"{scenario}_events"])
    common = {
        "broker": row.broker,
        "url": backend.url(row.broker),
        "prefix": backend.prefix,
        "stream": backend.stream,
        "channel": f"{label}-{row.broker}-{row.workers}",
        "port": server.port if server is not None else 0,
        "events": events,
    }
    subscribe_params = common | {
        "mode": "raw" if row.raw else "ws",
        "subscribers": size["raw_subscribers"] if row.raw else size["subscribers"],
        "record_latency": scenario == "latency",
        "within": _RUN_TIMEOUT - 30,
        "idle": 5.0,  # nothing for that long: the missing events are lost
    }
    publish_params = common | {"rate": size["latency_rate"] if scenario == "latency" else 0.0}
    subscriber, publisher = clients.subscriber, clients.publisher
    try:
        subscriber.send(subscribe_params)
        subscriber.receive()  # ready: every subscriber got a priming event
        publisher.send(publish_params)
        publisher.receive()  # ready: connected
        server_cpu = server.cpu() if server is not None else 0.0
        broker_cpu = broker_server_cpu(row.broker, backend)
        busy, measured = machine_busy(), time.perf_counter()
        publisher.send("go")
        published = publisher.receive()
        received = subscriber.receive()
        busy, measured = machine_busy() - busy, time.perf_counter() - measured
        server_used = (server.cpu() - server_cpu) if server is not None else None
        broker_after = broker_server_cpu(row.broker, backend)
        broker_used = (
            broker_after - broker_cpu
            if broker_cpu is not None and broker_after is not None
            else None
        )
    except (RuntimeError, OSError, ValueError) as error:
        # Either process may still be in the middle of this run: both start afresh.
        subscriber.stop()
        publisher.stop()
        return {"error": str(error)[-600:], "ok": False}
    return measurement(received, published, (busy, measured), server_used, broker_used, events)


def measurement(
    received: dict[str, Any],
    published: dict[str, Any],
    machine: tuple[float, float],
    server_cpu: float | None,
    broker_cpu: float | None,
    events: int,
) -> dict[str, Any]:
    """The figures of one run from what its two client processes reported; ``machine``
    is the CPU seconds the whole machine spent while it was measured, and how long that
    was (more than the window when the subscribers waited for events that never came)."""
    machine_cpu, measured = machine
    result = dict(received)
    first, last = published["first_publish_wall"], published["last_publish_wall"]
    end = received.get("last_receive_wall")
    window = (end - first) if isinstance(end, float) else None
    result["published_events"] = events
    result["publish_s"] = last - first
    result["publish_per_s"] = events / (last - first) if last > first else None
    result["publisher_cpu_s"] = published.get("cpu_s")
    result["window_s"] = window
    delivered = int(received["delivered"])
    result["delivered_per_s"] = delivered / window if window and window > 0 else None
    result["server_cpu_s"] = server_cpu
    result["server_cpu_us_per_delivery"] = (
        server_cpu / delivered * 1e6 if server_cpu is not None and delivered else None
    )
    result["broker_server_cpu_s"] = broker_cpu
    result["broker_server_cpu_us_per_event"] = (
        broker_cpu / events * 1e6 if broker_cpu is not None else None
    )
    ours = (server_cpu or 0.0) + received["client_cpu_s"] + (published.get("cpu_s") or 0.0)
    ours += broker_cpu or 0.0
    result["machine_cpu_s"] = machine_cpu
    result["measured_s"] = measured
    # CPU seconds spent by everything else on the machine, per second measured: the
    # noise this measurement ran in (2 is both cores).
    result["other_load_cores"] = max(0.0, machine_cpu - ours) / measured if measured > 0 else None
    return result


# --------------------------------------------------------------------------- the run


def check_backend(brokers: tuple[str, ...], backend: Backend) -> dict[str, str]:
    """What is missing, per broker: Redis or NATS not answering, a package not installed."""
    import asyncio

    from .apps.broker_app import make_broker

    async def probe(broker: str) -> str | None:
        try:
            instance = make_broker(broker, backend.url(broker), backend.prefix, backend.stream)
            async with asyncio.timeout(10):
                await instance.publish("probe", {"seq": 0})
            await instance.close()
        except Exception as error:  # any failure means: no row for this broker
            return f"{type(error).__name__}: {error}"[:300]
        return None

    missing: dict[str, str] = {}
    for broker in brokers:
        if broker != "memory":
            problem = asyncio.run(probe(broker))
            if problem is not None:
                missing[broker] = problem
    return missing


def cleanup(brokers: tuple[str, ...], backend: Backend) -> None:
    """Remove this run's Redis keys and JetStream stream (best effort)."""
    import asyncio

    async def clean() -> None:
        if {"pubsub", "streams"} & set(brokers):
            import redis.asyncio

            client = redis.asyncio.Redis.from_url(backend.redis_url)
            try:
                keys = [key async for key in client.scan_iter(match=backend.prefix + "*")]
                if keys:
                    await client.delete(*keys)
            finally:
                await client.aclose()
        if "jetstream" in brokers:
            import nats

            connection = await nats.connect(backend.nats_url, connect_timeout=5)
            try:
                with suppress(Exception):
                    await connection.jetstream().delete_stream(backend.stream)
            finally:
                await connection.close()

    with suppress(Exception):
        asyncio.run(clean())


def _print(line: str) -> None:
    print(line, flush=True)


def run(
    size: dict[str, Any], brokers: tuple[str, ...] = BROKERS, log: Log = _print
) -> dict[str, Any]:
    started = time.perf_counter()
    backend = new_backend()
    meta = machine_info()
    meta["pinning"] = "none: two workers need both cores; every process is free to move"
    meta["size"] = dict(size)
    missing = check_backend(brokers, backend)
    if missing:
        raise RuntimeError(f"brokers not available: {missing}")
    meta["redis_url"], meta["nats_url"] = backend.redis_url, backend.nats_url
    all_rows = rows(brokers)
    results: dict[str, Any] = {}
    try:
        with (
            tempfile.TemporaryDirectory(prefix="gqlwire-broker-bench-") as logs,
            ExitStack() as stack,
        ):
            servers: dict[Row, BrokerServer] = {}
            for row in all_rows:
                if not row.raw:
                    servers[row] = BrokerServer(row, backend, Path(logs))
                    stack.callback(servers[row].stop)
            clients = Clients(ClientProcess("subscriber"), ClientProcess("publisher"))
            stack.callback(clients.subscriber.stop)
            stack.callback(clients.publisher.stop)
            for server in servers.values():
                server.wait_ready()
            if size["warmup"]:  # imports, connections and caches are not measured
                for row in all_rows:
                    run_once(row, "throughput", QUICK, backend, servers.get(row), clients, "warmup")
            runs: dict[tuple[str, Row], list[dict[str, Any]]] = {}
            for scenario in SCENARIOS:
                for round_index in range(int(size["rounds"])):
                    for row in all_rows:
                        label = f"{scenario}-{round_index}"
                        result = run_once(
                            row, scenario, size, backend, servers.get(row), clients, label
                        )
                        runs.setdefault((scenario, row), []).append(result)
                        log(
                            f"  {scenario:<10} round {round_index + 1}  {row.key:<14} "
                            + _brief(result)
                        )
            for (scenario, row), row_runs in runs.items():
                results[f"{scenario}/{row.key}"] = {
                    "scenario": scenario,
                    "broker": row.broker,
                    "workers": row.workers,
                    "raw": row.raw,
                    **summarize(scenario, row_runs),
                }
            for row, server in servers.items():
                server.stop()
                results[f"log/{row.key}"] = server.log_problems()
    finally:
        cleanup(brokers, backend)
    meta["load_average_end"] = os.getloadavg()
    meta["wall_s"] = time.perf_counter() - started
    return {"meta": meta, "rows": [row.key for row in all_rows], "results": results}


def summarize(scenario: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median round of a row (by its main figure), the spread of every round, and
    whether every round's counts were right."""
    good = [run for run in runs if "error" not in run]
    figure = "delivered_per_s" if scenario == "throughput" else "p50_ms"
    summary: dict[str, Any] = {"rounds": len(runs), "runs": runs}
    summary["ok"] = bool(runs) and all(run.get("ok") for run in runs)
    if not good:
        summary["error"] = runs[0].get("error", "no run") if runs else "no run"
        return summary
    ranked = sorted(good, key=lambda run: run.get(figure) or 0.0)
    median = ranked[(len(ranked) - 1) // 2]
    for key, value in median.items():
        if key not in ("ok", "errors"):
            summary[key] = value
    values = [run[figure] for run in good if isinstance(run.get(figure), float)]
    summary[f"{figure}_min"] = min(values) if values else None
    summary[f"{figure}_max"] = max(values) if values else None
    summary["other_load_cores_max"] = max(
        (run["other_load_cores"] for run in good if run.get("other_load_cores") is not None),
        default=None,
    )
    summary["expected_total"] = sum(int(run["expected"]) for run in good)
    summary["delivered_total"] = sum(int(run["delivered"]) for run in good)
    for key in ("lost", "extra", "out_of_order", "gaps", "wrong_start"):
        summary[f"{key}_total"] = sum(int(run[key]) for run in good)
    summary["errors"] = sorted({e for run in good for e in run.get("errors", [])})[:5]
    return summary


def _brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"ERROR {str(result['error'])[:200]}"
    status = "ok" if result.get("ok") else "COUNTS WRONG"
    text = (
        f"{_number(result.get('delivered_per_s'), 0):>9} delivered/s  "
        f"publish {_number(result.get('publish_per_s'), 0):>7}/s"
    )
    if "p50_ms" in result:
        text += f"  p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms"
    return f"{text}  {status}"


# --------------------------------------------------------------------------- the report


def _number(value: Any, digits: int = 1) -> str:
    if not isinstance(value, int | float):
        return "n/a"
    return f"{value:,.{digits}f}"


def _cell(text: Any, limit: int = 80) -> str:
    return " ".join(str(text).replace("|", "/").split())[:limit]


def _row_label(result: dict[str, Any]) -> tuple[str, str]:
    name = BROKER_NAMES.get(result["broker"], result["broker"])
    where = (
        "no GraphQL"
        if result["raw"]
        else f"{result['workers']} worker" + ("s" if result["workers"] > 1 else "")
    )
    return name, where


def _counts(result: dict[str, Any]) -> str:
    if "delivered_total" not in result:
        return "n/a"
    text = f"{result['delivered_total']:,}/{result['expected_total']:,}"
    wrong = [
        f"{result[f'{key}_total']:,} {key.replace('_', ' ')}"
        for key in ("lost", "extra", "out_of_order", "gaps", "wrong_start")
        if result.get(f"{key}_total")
    ]
    return text + (" (" + ", ".join(wrong) + ")" if wrong else " ok")


def _spread(result: dict[str, Any], figure: str, digits: int) -> str:
    low, high = result.get(f"{figure}_min"), result.get(f"{figure}_max")
    if result.get("rounds", 1) < 2 or low is None or high is None:
        return "one round"
    return f"{_number(low, digits)} to {_number(high, digits)}"


def _busy(result: dict[str, Any]) -> str:
    """The subscriber process's CPU time over the measured window: near 100 %, it, not
    the server or the broker, set the pace."""
    cpu, window = result.get("client_cpu_s"), result.get("window_s")
    if not isinstance(cpu, int | float) or not isinstance(window, int | float) or window <= 0:
        return "n/a"
    return f"{cpu / window:.0%}"


def _spread_workers(result: dict[str, Any]) -> str:
    spread = result.get("subscribers_per_worker") or {}
    if not spread:
        return ""
    return "+".join(str(count) for count in sorted(spread.values(), reverse=True))


def table(report: dict[str, Any], scenario: str) -> str:
    results = report["results"]
    if scenario == "throughput":
        lines = [
            "| broker | where | delivered events/s (median) | rounds' range | published "
            "events/s | server CPU µs/delivery | Redis/NATS CPU µs/event | subscriber "
            "process busy | subscribers per worker | other load (cores) | delivered/expected |",
            "|---|---|---:|---|---:|---:|---:|---:|---|---:|---|",
        ]
    else:
        lines = [
            "| broker | where | p50 ms (median) | rounds' p50 range | p99 ms | max ms "
            "| subscribers per worker | other load (cores) | delivered/expected |",
            "|---|---|---:|---|---:|---:|---|---:|---|",
        ]
    for key in report["rows"]:
        result = results.get(f"{scenario}/{key}")
        if result is None:
            continue
        name, where = _row_label(result)
        if "error" in result:
            cells = " |" * (8 if scenario == "throughput" else 6)
            lines.append(f"| {name} | {where} | error: {_cell(result['error'])} |{cells}")
            continue
        load = _number(result.get("other_load_cores_max"), 2)
        if scenario == "throughput":
            lines.append(
                f"| {name} | {where} | {_number(result.get('delivered_per_s'), 0)} "
                f"| {_spread(result, 'delivered_per_s', 0)} "
                f"| {_number(result.get('publish_per_s'), 0)} "
                f"| {_number(result.get('server_cpu_us_per_delivery'))} "
                f"| {_number(result.get('broker_server_cpu_us_per_event'))} "
                f"| {_busy(result)} | {_spread_workers(result)} | {load} | {_counts(result)} |"
            )
        else:
            lines.append(
                f"| {name} | {where} | {_number(result.get('p50_ms'), 2)} "
                f"| {_spread(result, 'p50_ms', 2)} | {_number(result.get('p99_ms'), 2)} "
                f"| {_number(result.get('max_ms'), 2)} | {_spread_workers(result)} | {load} "
                f"| {_counts(result)} |"
            )
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    size = meta["size"]
    packages = meta["packages"]
    start, end = meta["load_average_start"][0], meta["load_average_end"][0]
    return "\n".join(
        [
            "# Brokers between processes",
            "",
            f"{meta['date']}; {meta['cpu_model']}, {meta['cores']} cores; {meta['python']}; "
            f"graphql-core {meta['graphql_core']}; aiohttp {packages['aiohttp']}; "
            f"{meta['pinning']}; load average {start:.1f} at the start, {end:.1f} at the end; "
            f"{size['mode']} mode, {size['rounds']} round(s) per row; run took "
            f"{meta['wall_s']:.0f} s.",
            "",
            f"{size['subscribers']} WebSocket subscribers (graphql-transport-ws) on one "
            "channel, spread by the kernel over the server's workers (aiohttp, `gqlwire serve "
            "--workers N`); subscribers of one worker share one source (`share_key`), so each "
            "event is read from the broker once per worker. The publisher is a process of "
            "its own that awaits each `publish` before the next. Raw rows: "
            f"{size['raw_subscribers']} subscriber process reading the broker directly, no "
            "GraphQL. Redis and NATS are the machine's own servers, shared with other work.",
            "",
            f"## Throughput: {size['throughput_events']:,} events back to back",
            "",
            "Delivered events/s counts every subscriber's events over the window from the "
            "first publish to the last delivery; published events/s is the publisher's pace "
            "(one awaited round trip per event). Server CPU is every worker's, per event "
            "delivered to a subscriber; Redis/NATS CPU is the broker server's, per event "
            "published (the machine's shared server: other work on it counts too).",
            "",
            table(report, "throughput"),
            "",
            f"## Latency: {size['latency_events']:,} events at "
            f"{size['latency_rate']:,.0f} events/s",
            "",
            "Publish-to-deliver time of every event at every subscriber (the publisher's "
            "clock in the event, the subscriber's at receipt; one machine, one clock).",
            "",
            table(report, "latency"),
            "",
            "Counts: every subscriber's events over every round, against what was published. "
            "`MemoryBroker` and `RedisBroker` are at most once: a subscription that falls "
            "more than `max_queued` (1,000) events behind loses events, and says so (a gap); "
            "`RedisStreamBroker` and `NatsBroker` catch up from their history instead.",
            "",
            "Other load: CPU time on the machine not spent by this run's server, publisher "
            "and subscriber processes, per second of the measured window, the worst round "
            "(2.00 would be both cores); the Redis or NATS server's CPU in that window counts "
            "as this run's.",
            "",
        ]
    )


def write(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "broker_fanout.json", out / "broker_fanout.md"
    json_path.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path


def acceptable(key: str, result: dict[str, Any]) -> bool:
    """A row is wrong if it failed, if any subscriber got an event twice or out of order,
    or if a broker with history lost one; an at-most-once broker may lose events."""
    if key.startswith("log/") or result.get("ok"):
        return True
    if "error" in result:
        return False
    misordered = any(result.get(f"{name}_total") for name in ("extra", "out_of_order"))
    return result["broker"] in AT_MOST_ONCE and not misordered


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.broker_fanout")
    parser.add_argument("--quick", action="store_true", help="a few subscribers, seconds")
    parser.add_argument(
        "--brokers",
        type=lambda value: tuple(name.strip() for name in value.split(",") if name.strip()),
        default=BROKERS,
        help=f"comma-separated, from: {', '.join(BROKERS)}",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="only write the Markdown of an earlier run's broker_fanout.json into --out",
    )
    args = parser.parse_args(argv)
    if args.render:
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / "broker_fanout.md"
        path.write_text(markdown(json.loads(args.render.read_text())))
        print(f"wrote {path}")
        return 0
    unknown = [name for name in args.brokers if name not in BROKERS]
    if unknown:
        parser.error(f"unknown brokers: {', '.join(unknown)} (known: {', '.join(BROKERS)})")
    report = run(QUICK if args.quick else FULL, args.brokers)
    for path in write(report, args.out):
        print(f"wrote {path}")
    failed = [key for key, result in report["results"].items() if not acceptable(key, result)]
    if failed:
        print(f"counts wrong or errors in: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
