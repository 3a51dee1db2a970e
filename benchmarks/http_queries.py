"""The HTTP query benchmark: queries per second and latency of GraphQL over HTTP (a JSON
``POST``), gqlwire on aiohttp and uvicorn against Strawberry and Ariadne on uvicorn.

    python -m benchmarks.http_queries            # 2 queries x 4 servers x 3 rounds (~2 min)
    python -m benchmarks.http_queries --quick    # a smoke run (seconds)
    python -m benchmarks.http_queries --out DIR  # results elsewhere than benchmarks/results

Two queries: ``hello`` (one string field, a response of about 40 bytes) and ``items``
(a list of 1,000 objects of four fields through the default resolvers, about 60 KB).
The load generator is ``wrk`` (Debian's ``wrk`` package), pinned to the second core
while the server has the first, with a fixed number of keep-alive connections. Before
measuring, each server's answer to each query is checked against the expected one.
Rounds are interleaved (round 1 of every server, then round 2...), so that the noise of
a shared machine falls on all alike, and the best round of each is reported with the
spread of all. Writes ``http_queries.json`` (every round) and ``http_queries.md``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .configs import CONFIGS_BY_NAME
from .driver import ServerProcess, machine_info, running
from .feed import HELLO_QUERY, ITEMS, ITEMS_QUERY, hello

RESULTS = Path(__file__).resolve().parent / "results"
SERVERS = ("gqlwire-aiohttp", "gqlwire-uvicorn", "strawberry-uvicorn", "ariadne-uvicorn")
LOADGEN_CPU = 1
"""The load generator's core (the servers are pinned to core 0 by :mod:`.driver`)."""


@dataclass(frozen=True)
class Query:
    name: str
    text: str
    expected: dict[str, Any]


QUERIES = (
    Query("hello", HELLO_QUERY, {"data": {"hello": hello("world")}}),
    Query("items (1,000)", ITEMS_QUERY, {"data": {"items": ITEMS}}),
)

FULL = {"connections": 16, "duration": 5, "rounds": 3}
QUICK = {"connections": 2, "duration": 2, "rounds": 1}

_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.body = {body}
"""


class WrkMissing(RuntimeError):
    """``wrk`` is not installed."""


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise WrkMissing("the HTTP benchmark needs wrk: apt-get install -y wrk")
    return found


def check_answer(server: ServerProcess, query: Query) -> None:
    """The server answers ``query`` with the expected result (else the figures would
    compare different work)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(
            "POST",
            "/graphql",
            json.dumps({"query": query.text}),
            {"content-type": "application/json", "accept": "application/json"},
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200 or json.loads(body) != query.expected:
        raise RuntimeError(
            f"{server.config.name} answered {query.name} with {response.status}: {body[:300]!r}"
        )


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests per second, the latency percentiles (ms) and the failures in ``wrk
    --latency``'s report."""
    found: dict[str, Any] = {}
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s+(\d+) requests in", output, re.MULTILINE)
    if rate is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    found["requests_per_s"] = float(rate.group(1))
    found["requests"] = int(total.group(1))
    for percent, value, unit in re.findall(
        r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\b", output, re.M
    ):
        found[f"p{percent}_ms"] = float(value) * _UNITS[unit]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    found["non_2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    found["socket_errors"] = errors.group(0) if errors else ""
    return found


def one_round(
    server: ServerProcess, query: Query, script: Path, size: dict[str, Any]
) -> dict[str, Any]:
    command = [
        wrk_binary(),
        "-t1",
        f"-c{size['connections']}",
        f"-d{size['duration']}s",
        "--latency",
        "--timeout",
        "30s",
        "-s",
        str(script),
        f"http://127.0.0.1:{server.port}/graphql",
    ]
    pid = server.pid
    cpu_before = cpu_seconds(pid)
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=size["duration"] + 60,
        preexec_fn=_pin_loadgen,
        check=False,
    )
    cpu = cpu_seconds(pid) - cpu_before
    if completed.returncode != 0:
        return {"error": (completed.stderr or completed.stdout)[-300:]}
    result = parse_wrk(completed.stdout)
    result["server_cpu_us_per_request"] = cpu / max(result["requests"], 1) * 1e6
    return result


def _pin_loadgen() -> None:
    if hasattr(os, "sched_setaffinity") and LOADGEN_CPU in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {LOADGEN_CPU})


def run(size: dict[str, Any], log: Any = print) -> dict[str, Any]:
    """Every query against every server, in interleaved rounds; the JSON-ready results."""
    wrk_binary()
    started = time.perf_counter()
    meta = machine_info()
    meta["size"] = size
    meta["wrk"] = subprocess.run(
        [wrk_binary(), "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[0:1]
    rounds: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="gqlwire-http-bench-") as tmp, ExitStack() as stack:
        servers = {
            name: stack.enter_context(running(CONFIGS_BY_NAME[name], Path(tmp))) for name in SERVERS
        }
        scripts = {}
        for number, query in enumerate(QUERIES):
            script = Path(tmp) / f"query{number}.lua"
            body = json.dumps({"query": query.text})
            script.write_text(_LUA.format(body=json.dumps(body)))
            scripts[query.name] = script
            for server in servers.values():
                check_answer(server, query)
        # A short warm-up of every pair: imports, caches and the JIT-free interpreter's
        # first-call costs are not measured.
        warm = {**size, "duration": 1}
        for query in QUERIES:
            for server in servers.values():
                one_round(server, query, scripts[query.name], warm)
        for number in range(size["rounds"]):
            for query in QUERIES:
                for name, server in servers.items():
                    result = one_round(server, query, scripts[query.name], size)
                    rounds.setdefault(f"{name}/{query.name}", []).append(result)
                    log(f"  round {number + 1} {name:<20} {query.name:<14} {_brief(result)}")
        logs = {name: server.log_problems() for name, server in servers.items()}
    results = {}
    for key, runs in rounds.items():
        name, query_name = key.split("/", 1)
        good = [
            run
            for run in runs
            if "error" not in run and not run["non_2xx"] and not run["socket_errors"]
        ]
        best = max(good, key=lambda run: run["requests_per_s"]) if good else runs[0]
        rates = [run["requests_per_s"] for run in good]
        results[key] = {
            "library": name.split("-")[0],
            "server": name.split("-")[1],
            "query": query_name,
            **best,
            "rounds": runs,
            "spread": (min(rates), max(rates)) if rates else None,
            "ok": len(good) == len(runs),
        }
    meta["logs"] = logs
    meta["load_average_end"] = os.getloadavg()
    meta["wall_s"] = time.perf_counter() - started
    return {"meta": meta, "results": results}


def _brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"ERROR {result['error'][:120]}"
    return (
        f"{result['requests_per_s']:>9,.0f} req/s  p50 {result.get('p50_ms', 0):.2f} ms  "
        f"p99 {result.get('p99_ms', 0):.2f} ms  "
        f"server {result['server_cpu_us_per_request']:.0f} us/req"
        + (f"  NON-2XX {result['non_2xx']}" if result["non_2xx"] else "")
        + (f"  {result['socket_errors']}" if result["socket_errors"] else "")
    )


def table(report: dict[str, Any]) -> str:
    lines = [
        "| query | library | server | requests/s | p50 ms | p99 ms | server CPU µs/request "
        "| rounds (min-max req/s) | answers |",
        "|---|---|---|---:|---:|---:|---:|---|---|",
    ]
    order = {name: index for index, name in enumerate(SERVERS)}
    rows = sorted(
        report["results"].values(),
        key=lambda r: (
            [q.name for q in QUERIES].index(r["query"]),
            order.get(f"{r['library']}-{r['server']}", 99),
        ),
    )
    for row in rows:
        if "error" in row:
            lines.append(
                f"| {row['query']} | {row['library']} | {row['server']} | error | | | | | |"
            )
            continue
        spread = row.get("spread")
        spread_text = f"{spread[0]:,.0f}-{spread[1]:,.0f}" if spread else "n/a"
        lines.append(
            f"| {row['query']} | {row['library']} | {row['server']} "
            f"| {row['requests_per_s']:,.0f} | {row.get('p50_ms', 0):.2f} "
            f"| {row.get('p99_ms', 0):.2f} | {row['server_cpu_us_per_request']:,.0f} "
            f"| {spread_text} | {'ok' if row['ok'] else 'ERRORS'} |"
        )
    return "\n".join(lines)


def write(report: dict[str, Any], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "http_queries.json"
    md_path = out / "http_queries.md"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    meta = report["meta"]
    size = meta["size"]
    md_path.write_text(
        "# GraphQL over HTTP: queries per second and latency\n\n"
        f"wrk, {size['connections']} keep-alive connections, {size['duration']} s per round, "
        f"{size['rounds']} interleaved rounds, best round shown; server on core 0, wrk on "
        f"core 1. Run of {meta['date']}, "
        f"{meta.get('cpu_model', '')}, load average at the end "
        f"{', '.join(f'{v:.1f}' for v in meta['load_average_end'])}.\n\n" + table(report) + "\n"
    )
    return {"json": json_path, "md": md_path}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_queries", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="output directory")
    args = parser.parse_args(argv)
    report = run(QUICK if args.quick else FULL)
    paths = write(report, args.out)
    print(table(report))
    print(f"written: {paths['md']}, {paths['json']}")
    return 0 if all(row["ok"] for row in report["results"].values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
