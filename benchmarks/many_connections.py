"""Many subscribed connections to one aiohttp process: gqlwire and the raw ceiling.

    python -m benchmarks.many_connections [--connections 100000] [--events 5] [--clients 4]
        [--configs gqlwire-aiohttp,raw-aiohttp] [--quick] [--fit-limit] [--out DIR]

For each configuration, one after the other, in a fresh server process: ``--clients``
load generator processes (:mod:`.many_connections_client`), each binding its sockets to
its own loopback source address (127.0.0.2, 127.0.0.3, ...: Linux routes all of 127/8 to
``lo``, and each source address has its own ephemeral ports), open the connections at a
bounded concurrency; each connection sends ``connection_init``, waits for the ack and
subscribes to one channel (on gqlwire, ``share_key`` makes them one shared group, as a
fan-out to that many would be served). Once the server counts every subscription, a GC,
then its RSS: memory per connection is the growth over the fresh process's RSS divided
by the connections. Then ``--events`` events, one at a time: each is published once the
previous one reached every subscriber. The event's ``ts`` is ``time.time()`` in the
server's publisher, and each client records ``time.time()`` on receipt, both from the
same system clock. Reported per event: the time until the last subscriber had it; over
every delivery: p50, p99 and max; and the counts (every subscriber, every event, once,
in order).

The open file limit: each process raises its soft RLIMIT_NOFILE to the hard one; the
hard one can only be raised with CAP_SYS_RESOURCE (``ulimit -Hn``, ``LimitNOFILE=`` of a
systemd unit, ``docker run --ulimit nofile=...``). The run checks beforehand that the
server process can hold every connection, and stops with the reason when it cannot (or,
with ``--fit-limit``, runs the largest count that fits and says so). The clients are
as many as the limit needs, whatever ``--clients`` says.

Writes ``many_connections.json`` and ``many_connections.md``.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import http.client
import json
import math
import os
import resource
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from .configs import CONFIGS_BY_NAME
from .driver import CLIENT_CPU, ROOT, _child_env, _pinning, machine_info, running
from .loadgen import percentile
from .many_connections_client import SPARE_DESCRIPTORS

RESULTS = Path(__file__).resolve().parent / "results"
CONFIGS = ("gqlwire-aiohttp", "raw-aiohttp")
CHANNEL = "many"

_HTTP_TIMEOUT = 60.0
MAX_CONNECTIONS_VARIABLE = "GQLWIRE_BENCH_MAX_CONNECTIONS"
IDLE_WINDOW = 12.0
"""Seconds of the idle measurement: gqlwire's keep-alive period, so that it holds one
ping per connection whenever they fall."""


class Refused(Exception):
    """The machine cannot run the requested size; the message says why."""


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def kernel_limits() -> dict[str, Any]:
    """The limits a run of many connections meets, as this process sees them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ports: list[int] = []
    with suppress(OSError, ValueError):
        ports = [int(v) for v in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()]
    return {
        "nofile_soft": -1 if soft == resource.RLIM_INFINITY else soft,
        "nofile_hard": -1 if hard == resource.RLIM_INFINITY else hard,
        "file_max": _read_int("/proc/sys/fs/file-max"),
        "nr_open": _read_int("/proc/sys/fs/nr_open"),
        "somaxconn": _read_int("/proc/sys/net/core/somaxconn"),
        "tcp_max_syn_backlog": _read_int("/proc/sys/net/ipv4/tcp_max_syn_backlog"),
        "ip_local_port_range": ports,
        "nf_conntrack_max": _read_int("/proc/sys/net/netfilter/nf_conntrack_max"),
    }


def raise_hard_limit(needed: int) -> str | None:
    """Try to raise RLIMIT_NOFILE (soft and hard, inherited by every process started here)
    to ``needed``; what refused it, if anything. Raising the hard limit takes
    CAP_SYS_RESOURCE, and nothing goes past fs.nr_open."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard >= needed:
        return None
    nr_open = _read_int("/proc/sys/fs/nr_open")
    if nr_open is not None and needed > nr_open:
        return f"fs.nr_open is {nr_open:,}"
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
    except (ValueError, OSError) as error:
        return f"setrlimit({needed:,}) was refused ({error}: no CAP_SYS_RESOURCE)"
    return None


def plan(connections: int, clients: int, limits: dict[str, Any], *, fit: bool) -> dict[str, Any]:
    """How many connections and client processes the limits allow; :class:`Refused` when
    the server process cannot hold ``connections`` (unless ``fit``)."""
    hard = limits["nofile_hard"]
    per_process = math.inf if hard < 0 else hard - SPARE_DESCRIPTORS
    requested = connections
    limited_by = None
    if connections > per_process:
        reason = (
            f"{connections:,} connections need {connections + SPARE_DESCRIPTORS:,} open files "
            f"in the server process, but the hard RLIMIT_NOFILE is {hard:,}, and raising it "
            f"failed: {limits.get('raise_refused')}; only a process with CAP_SYS_RESOURCE "
            "may raise it (ulimit -Hn as root, LimitNOFILE= in a systemd unit, "
            "docker run --ulimit nofile=N:N); "
            f"the largest run that fits is --connections {int(per_process):,}"
        )
        if not fit:
            raise Refused(reason)
        connections = int(per_process)
        limited_by = reason
    if connections < 1:
        raise Refused(f"the hard RLIMIT_NOFILE ({hard}) leaves no room for connections")
    ports = limits["ip_local_port_range"]
    per_source = ports[1] - ports[0] + 1 - 100 if len(ports) == 2 else 28000
    needed = max(clients, math.ceil(connections / min(per_process, per_source)))
    if needed > 250:
        raise Refused(f"{connections:,} connections would need {needed} source addresses")
    return {
        "requested_connections": requested,
        "connections": connections,
        "clients": needed,
        "sources": [f"127.0.0.{2 + n}" for n in range(needed)],
        "limited_by": limited_by,
    }


def _http(port: int, method: str, path: str) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=_HTTP_TIMEOUT)
    try:
        connection.request(method, path)
        result: dict[str, Any] = json.loads(connection.getresponse().read())
        return result
    finally:
        connection.close()


async def stats(port: int, *, collect: bool = False) -> dict[str, Any]:
    return await asyncio.to_thread(_http, port, "GET", "/_stats?gc=1" if collect else "/_stats")


async def wait_subscribers(port: int, count: int, within: float) -> int:
    """The server's subscription count once it reaches ``count`` or stops growing."""
    deadline = time.monotonic() + within
    seen, last_change = -1, time.monotonic()
    while True:
        now = (await stats(port))["subscribers"]
        if now >= count:
            return int(now)
        if now != seen:
            seen, last_change = now, time.monotonic()
        if time.monotonic() > deadline or time.monotonic() - last_change > 30:
            return int(now)
        await asyncio.sleep(0.2)


class Client:
    """One load generator process, talked to in JSON lines."""

    def __init__(self, process: asyncio.subprocess.Process, latencies: Path, log: Path) -> None:
        self.process = process
        self.latencies = latencies
        self.log = log

    async def read(self, within: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        async with asyncio.timeout(within):
            line = await self.process.stdout.readline()
        if not line:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError("a client process ended early: " + " | ".join(tail))
        result: dict[str, Any] = json.loads(line)
        return result

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")

    async def stop(self) -> None:
        if self.process.returncode is None:
            with suppress(TimeoutError):
                async with asyncio.timeout(30):
                    await self.process.wait()
        if self.process.returncode is None:
            with suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()


async def start_client(
    port: int, source: str, count: int, start_index: int, events: int, work: Path
) -> Client:
    latencies = work / f"latencies-{source}.bin"
    log = work / f"client-{source}.log"
    params = {
        "host": "127.0.0.1",
        "port": port,
        "path": "/graphql",
        "channel": CHANNEL,
        "source": source,
        "count": count,
        "start_index": start_index,
        "events": events,
        "latencies": str(latencies),
        "concurrency": 100,
        "event_timeout": 60 + count / 500,
    }
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.many_connections_client",
            json.dumps(params),
            cwd=ROOT,
            env=_child_env(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            preexec_fn=_pinning(CLIENT_CPU),
            limit=1 << 20,
        )
    return Client(process, latencies, log)


def _sum(results: list[dict[str, Any]], key: str) -> int:
    return sum(int(result.get(key, 0)) for result in results)


async def measure(
    port: int,
    sizes: dict[str, Any],
    events: int,
    work: Path,
    log: Any,
) -> dict[str, Any]:
    """One configuration, its server already running on ``port``."""
    connections, sources = int(sizes["connections"]), list(sizes["sources"])
    fresh = await stats(port, collect=True)
    shares = [
        connections // len(sources) + (n < connections % len(sources)) for n in range(len(sources))
    ]
    starts = [sum(shares[:n]) for n in range(len(sources))]
    clients: list[Client] = []
    try:
        opened_at = time.perf_counter()
        for source, share, start in zip(sources, shares, starts, strict=True):
            clients.append(await start_client(port, source, share, start, events, work))
        open_timeout = 120 + connections / 100
        ready = [await client.read(open_timeout) for client in clients]
        open_s = time.perf_counter() - opened_at
        opened = _sum(ready, "ready")
        log(
            f"    {opened:,} connections open in {open_s:.1f} s ({_sum(ready, 'retried')} "
            f"attempts retried, {_sum(ready, 'failed')} failed)"
        )
        subscribed = await wait_subscribers(port, opened, within=60 + connections / 200)
        loaded = await stats(port, collect=True)
        grown = loaded["rss"] - fresh["rss"]
        log(
            f"    {subscribed:,} subscribed; RSS {fresh['rss'] / 2**20:.0f} -> "
            f"{loaded['rss'] / 2**20:.0f} MiB ({grown / max(1, opened) / 1024:.2f} KiB each)"
        )
        # What the idle connections cost the server (gqlwire: its keep-alive pings, every
        # 12 s per connection), measured before the events and counted apart.
        idle_before = await stats(port)
        idle_window = float(sizes.get("idle_window", IDLE_WINDOW))
        await asyncio.sleep(idle_window)
        idle_after = await stats(port)
        idle_cpu = (idle_after["cpu"] - idle_before["cpu"]) / idle_window
        for client in clients:
            client.send({"go": True})
        first: int | None = None
        per_event: list[dict[str, Any]] = []
        server_cpu = waited = 0.0
        event_wall = 0.0
        load_before = os.getloadavg()[0]
        for k in range(1, events + 1):
            # Server CPU from just before the publish to the last subscriber's receipt.
            before = await stats(port)
            window_start = time.perf_counter()
            published = await asyncio.to_thread(
                _http, port, "POST", f"/_publish?channel={CHANNEL}&count=1"
            )
            first = published["first"] if first is None else first
            reports = [await client.read(120 + connections / 250) for client in clients]
            event_wall += time.perf_counter() - window_start
            now = await stats(port)
            server_cpu += now["cpu"] - before["cpu"]
            waited += now["runqueue_wait"] - before["runqueue_wait"]
            reaches = [r["reach_all_ms"] for r in reports if r["reach_all_ms"] is not None]
            per_event.append(
                {
                    "event": k,
                    "complete": all(r["complete"] for r in reports),
                    "reached": _sum(reports, "reached"),
                    "reach_all_ms": max(reaches) if reaches else None,
                }
            )
            log(
                f"    event {k}: {per_event[-1]['reached']:,} reached in "
                f"{per_event[-1]['reach_all_ms'] or 0:.1f} ms"
            )
        for client in clients:
            client.send({"first": first if first is not None else 1})
        done = [await client.read(120 + connections / 500) for client in clients]
    finally:
        for client in clients:
            await client.stop()
    samples = array.array("d")
    for client in clients:
        with suppress(OSError):
            samples.frombytes(client.latencies.read_bytes())
    ordered = sorted(samples)
    delivered = _sum(done, "delivered")
    counts = {
        key: _sum(done, key)
        for key in ("expected", "delivered", "lost", "extra", "out_of_order", "gaps", "wrong_start")
    }
    return {
        "connections": connections,
        "opened": opened,
        "failed": _sum(ready, "failed"),
        "first_failures": sorted({f for r in ready for f in r.get("first_failures", [])})[:5],
        "retried": _sum(ready, "retried"),
        "retry_reasons": sorted({f for r in ready for f in r.get("retry_reasons", [])})[:5],
        "subscribed": subscribed,
        "open_s": open_s,
        "rss_fresh_bytes": fresh["rss"],
        "rss_subscribed_bytes": loaded["rss"],
        "bytes_per_connection": grown / opened if opened else None,
        "events": per_event,
        "delivery_ms_p50": percentile(ordered, 50),
        "delivery_ms_p99": percentile(ordered, 99),
        "delivery_ms_max": ordered[-1] if ordered else None,
        "reach_all_ms_max": max((e["reach_all_ms"] or 0.0) for e in per_event)
        if per_event
        else None,
        "server_cpu_s_events": server_cpu,
        "server_cpu_us_per_delivery": server_cpu / delivered * 1e6 if delivered else None,
        "server_waited_for_cpu_s": waited,
        "server_cpu_s_idle_per_s": idle_cpu,
        "idle_window_s": idle_window,
        # The same, less what the idle connections cost over the event windows.
        "server_cpu_us_per_delivery_less_idle": (
            (server_cpu - idle_cpu * event_wall) / delivered * 1e6 if delivered else None
        ),
        "events_wall_s": event_wall,
        "load_average_before_events": load_before,
        "samples": len(samples),
        **counts,
        "protocol_errors": _sum(done, "protocol_errors"),
        "closed_before_end": _sum(done, "closed_before_end"),
        "ok": bool(
            opened == connections
            and subscribed >= connections
            and all(r.get("ok") for r in done)
            and counts["delivered"] == connections * events
            and all(e["complete"] for e in per_event)
            and len(samples) == connections * events
        ),
    }


async def run_async(
    configs: list[str], sizes: dict[str, Any], events: int, rounds: int, log: Any
) -> dict[str, dict[str, Any]]:
    """Every configuration once per round, each time in a fresh server process; the
    order turns round every other round (A B, B A, ...), so that neither always runs
    first on a machine whose load changes."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
    with tempfile.TemporaryDirectory(prefix="gqlwire-many-") as work:
        for round_index in range(rounds):
            for name in configs if round_index % 2 == 0 else configs[::-1]:
                log(f"  round {round_index + 1}: {name}")
                started = time.perf_counter()
                try:
                    with running(CONFIGS_BY_NAME[name], Path(work)) as server:
                        result = await measure(server.port, sizes, events, Path(work), log)
                        result["server_log"] = server.log_problems()
                except Exception as error:  # report it, and run the next configuration
                    result = {"error": f"{type(error).__name__}: {error}", "ok": False}
                result["round"] = round_index + 1
                result["run_wall_s"] = time.perf_counter() - started
                runs[name].append(result)
                log(f"  {name}: {_brief(result)}")
    return {name: least_disturbed(name_runs) for name, name_runs in runs.items()}


def least_disturbed(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the least server CPU per delivery (the one other load disturbed
    least), ``ok`` only if every round was, and every round under ``rounds``."""
    good = [run for run in runs if "error" not in run]
    if not good:
        return {**runs[0], "rounds": runs}
    chosen = min(good, key=lambda run: run.get("server_cpu_us_per_delivery") or math.inf)
    return {**chosen, "ok": all(run.get("ok") for run in runs), "rounds": runs}


def run(
    configs: list[str],
    connections: int,
    events: int,
    clients: int,
    *,
    rounds: int = 1,
    idle_window: float = IDLE_WINDOW,
    fit: bool = False,
    log: Any = print,
) -> dict[str, Any]:
    refused = raise_hard_limit(connections + SPARE_DESCRIPTORS)
    limits = kernel_limits()
    limits["raise_refused"] = refused
    sizes = plan(connections, clients, limits, fit=fit)
    sizes["idle_window"] = idle_window
    started = time.perf_counter()
    meta = machine_info()
    meta.update(limits=limits, events=events, rounds=rounds, **sizes)
    meta["memory_total_bytes"] = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    # gqlwire's max_connections (10,000 by default) would refuse the rest: the app
    # raises it to the run's size, as a deployment holding that many would.
    before = os.environ.get(MAX_CONNECTIONS_VARIABLE)
    os.environ[MAX_CONNECTIONS_VARIABLE] = str(sizes["connections"] + 100)
    try:
        results = asyncio.run(run_async(configs, sizes, events, rounds, log))
    finally:
        if before is None:
            os.environ.pop(MAX_CONNECTIONS_VARIABLE, None)
        else:
            os.environ[MAX_CONNECTIONS_VARIABLE] = before
    meta["load_average_end"] = os.getloadavg()
    meta["wall_s"] = time.perf_counter() - started
    return {"meta": meta, "configs": configs, "results": results}


def _brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"ERROR {str(result['error'])[:200]}"
    return (
        f"{_kib(result['bytes_per_connection'])} KiB/connection, reach all max "
        f"{_number(result['reach_all_ms_max'])} ms, p50 {_number(result['delivery_ms_p50'])} "
        f"ms, p99 {_number(result['delivery_ms_p99'])} ms, "
        f"{'ok' if result['ok'] else 'COUNTS WRONG'}"
    )


def _number(value: Any, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if isinstance(value, int | float) else "n/a"


def _kib(value: Any) -> str:
    return _number(value / 1024, 2) if isinstance(value, int | float) else "n/a"


def _mib(value: Any) -> str:
    return _number(value / 2**20, 0) if isinstance(value, int | float) else "n/a"


ROWS: tuple[tuple[str, Any], ...] = (
    ("connections open and subscribed", lambda r: f"{r['subscribed']:,} of {r['connections']:,}"),
    (
        "time to open them all (attempts retried)",
        lambda r: f"{_number(r['open_s'])} s ({r.get('retried', 0):,} retried)",
    ),
    (
        "server RSS fresh, then subscribed",
        lambda r: f"{_mib(r['rss_fresh_bytes'])} -> {_mib(r['rss_subscribed_bytes'])} MiB",
    ),
    ("memory per connection", lambda r: f"{_kib(r['bytes_per_connection'])} KiB"),
    (
        "event reaches every subscriber, per event",
        lambda r: ", ".join(f"{_number(e['reach_all_ms'], 0)}" for e in r["events"]) + " ms",
    ),
    (
        "delivery p50 / p99 / max",
        lambda r: (
            f"{_number(r['delivery_ms_p50'])} / "
            f"{_number(r['delivery_ms_p99'])} / {_number(r['delivery_ms_max'])} ms"
        ),
    ),
    (
        "server CPU while the connections are idle",
        lambda r: f"{_number(r['server_cpu_s_idle_per_s'] * 100)} % of a core",
    ),
    ("server CPU per delivery", lambda r: f"{_number(r['server_cpu_us_per_delivery'], 2)} µs"),
    (
        "the same, less the idle rate over the event windows",
        lambda r: f"{_number(r.get('server_cpu_us_per_delivery_less_idle'), 2)} µs",
    ),
    (
        "server waited for a CPU during the events",
        lambda r: f"{_number(r['server_waited_for_cpu_s'], 2)} s",
    ),
    ("delivered / expected", lambda r: f"{r['delivered']:,} / {r['expected']:,}"),
    (
        "lost, duplicated or reordered",
        lambda r: (
            f"{r['lost']} lost, {r['extra']} extra, "
            f"{r['out_of_order']} out of order, {r['gaps']} gaps"
        ),
    ),
    ("counts (every round)", lambda r: "ok" if r["ok"] else "WRONG"),
    (
        "every round: memory, slowest event, CPU per delivery",
        lambda r: "; ".join(
            f"{_kib(run.get('bytes_per_connection'))} KiB, "
            f"{_number(run.get('reach_all_ms_max'), 0)} ms, "
            f"{_number(run.get('server_cpu_us_per_delivery'), 1)} µs"
            for run in r["rounds"]
        ),
    ),
)


def table(report: dict[str, Any]) -> str:
    configs = report["configs"]
    lines = ["| | " + " | ".join(configs) + " |", "|---|" + "---:|" * len(configs)]
    for title, cell in ROWS:
        cells = []
        for name in configs:
            result = report["results"].get(name, {})
            cells.append(
                "error: " + str(result["error"])[:80] if "error" in result else cell(result)
            )
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    limits = meta["limits"]
    start, end = meta["load_average_start"][0], meta["load_average_end"][0]
    lines = [
        "# Many connections to one process",
        "",
        f"{meta['date']}; {meta['cpu_model']}, {meta['cores']} cores, "
        f"{meta['memory_total_bytes'] / 2**30:.0f} GiB; kernel {meta['kernel']}; "
        f"{meta['python']}; graphql-core {meta['graphql_core']}; aiohttp "
        f"{meta['packages']['aiohttp']}; {meta['pinning']}; load average {start:.1f} at "
        f"the start, {end:.1f} at the end; run took {meta['wall_s']:.0f} s.",
        "",
        f"{meta['connections']:,} WebSocket connections (graphql-transport-ws), each with one "
        f"subscription to the same channel, to one aiohttp process, from {meta['clients']} "
        f"client processes with source addresses {', '.join(meta['sources'])}; then "
        f"{meta['events']} events, each published once the previous one had reached every "
        f"subscriber. Each configuration ran {meta['rounds']} time(s), each in a fresh server "
        "process, the configurations taking turns (A B, then B A); the table shows the "
        "round with the least server CPU per delivery (the least disturbed), and every "
        "round in its last row. "
        f"gqlwire's `max_connections` (10,000 by default) was set to "
        f"{meta['connections'] + 100:,}.",
        "",
        f"Limits: RLIMIT_NOFILE soft {limits['nofile_soft']:,}, hard {limits['nofile_hard']:,} "
        f"(each process raises its soft limit to the hard one); fs.file-max "
        f"{limits['file_max']}; fs.nr_open {limits['nr_open']}; net.core.somaxconn "
        f"{limits['somaxconn']} (listen backlog 2048); ephemeral ports "
        f"{'-'.join(str(p) for p in limits['ip_local_port_range'])} per source address; "
        f"nf_conntrack_max {limits['nf_conntrack_max']}.",
        "",
    ]
    if meta.get("limited_by"):
        lines += [
            f"**Not the {meta['requested_connections']:,} connections asked for:** "
            f"{meta['limited_by']}.",
            "",
        ]
    lines += [
        "Memory per connection is the server's RSS growth (after a GC) from the fresh "
        "process to every connection subscribed, over the connections. Latencies are "
        "`time.time()` on receipt minus the `ts` the server's publisher put in the event "
        "(the same clock, one machine): the publish includes making the event, running it "
        "(gqlwire: once for the shared group) and writing every frame, so the last "
        "subscriber's figure is the fan-out's duration. The clients share the 2 cores with "
        "the server, so latencies include the clients' reading; server CPU per delivery "
        "is the figure least disturbed by other load. It is the server's CPU time from "
        "just before each publish to the last subscriber's receipt, summed over the "
        "events, over the deliveries: on gqlwire it includes the keep-alive pings that "
        "fall in those windows (one per connection every 12 s; their rate alone is the "
        "idle CPU row, measured before the events over one keep-alive period, 12 s). A "
        "connection refused during the opening is tried again (3 attempts); how many "
        "attempts were retried, and why, is in the JSON.",
        "",
        table(report),
        "",
    ]
    return "\n".join(lines)


def write(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "many_connections.json", out / "many_connections.md"
    json_path.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.many_connections")
    parser.add_argument("--connections", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="each configuration this often")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--quick", action="store_true", help="400 connections, 2 clients, 3 events")
    parser.add_argument(
        "--fit-limit",
        action="store_true",
        help="when the open file limit cannot hold --connections, run the largest count it can",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    configs = [name.strip() for name in args.configs.split(",") if name.strip()]
    unknown = [name for name in configs if name not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration {', '.join(unknown)} (known: {', '.join(CONFIGS)})")
    if args.quick:
        args.connections, args.clients, args.events, args.rounds = 400, 2, 3, 1
    try:
        report = run(
            configs,
            args.connections,
            args.events,
            args.clients,
            rounds=max(1, args.rounds),
            idle_window=1.0 if args.quick else IDLE_WINDOW,
            fit=args.fit_limit,
        )
    except Refused as refused:
        print(f"refused: {refused}", file=sys.stderr)
        return 2
    for path in write(report, args.out):
        print(f"wrote {path}")
    return 0 if all(result.get("ok") for result in report["results"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
