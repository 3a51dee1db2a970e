"""The SSE fan-out benchmark: gqlwire and Strawberry, each over GraphQL over SSE
(distinct connections mode) and over ``graphql-transport-ws``, on uvicorn.

    python -m benchmarks.sse_fanout              # 100 and 1,000 subscribers (1-2 minutes)
    python -m benchmarks.sse_fanout --quick      # a smoke run (seconds)
    python -m benchmarks.sse_fanout --out DIR    # results elsewhere than benchmarks/results

Both servers start at the beginning and stay up; within one size, the four
(library, transport) pairs take turns, round after round, as in :mod:`.driver`, and the
best round of each is reported. The load generator is :mod:`.loadgen`'s ``fanout``
scenario with ``transport`` set to ``sse`` (:mod:`.sseclient`) or ``ws``
(:mod:`.wsclient`). Writes ``sse_fanout.json`` (every measurement) and
``sse_fanout.md`` (the table).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .configs import CONFIGS_BY_NAME
from .driver import Log, ServerProcess, _settle, best_of, machine_info, run_loadgen, running

RESULTS = Path(__file__).resolve().parent / "results"
SERVERS = ("gqlwire-uvicorn", "strawberry-uvicorn")
TRANSPORTS = ("sse", "ws")

FULL: tuple[dict[str, Any], ...] = (
    {"subscribers": 100, "events": 100, "repeat": 2},
    {"subscribers": 1000, "events": 30, "repeat": 2},
)
QUICK: tuple[dict[str, Any], ...] = ({"subscribers": 5, "events": 10, "repeat": 1},)

_RUN_TIMEOUT = 180.0


@dataclass(frozen=True)
class Pair:
    server: str
    transport: str

    @property
    def name(self) -> str:
        return f"{self.server.split('-')[0]} {self.transport.upper()}"


def pairs() -> list[Pair]:
    return [Pair(server, transport) for server in SERVERS for transport in TRANSPORTS]


def _one_run(server: ServerProcess, pair: Pair, size: dict[str, Any]) -> dict[str, Any]:
    params = {
        "scenario": "fanout",
        "host": "127.0.0.1",
        "port": server.port,
        "path": "/graphql",
        "transport": pair.transport,
        "subscribers": size["subscribers"],
        "events": size["events"],
    }
    started = time.perf_counter()
    result = run_loadgen(params, _RUN_TIMEOUT)
    result["wall_s"] = time.perf_counter() - started
    with suppress(OSError):
        _settle(server)
    return result


def run(sizes: tuple[dict[str, Any], ...], log: Log = print) -> dict[str, Any]:
    """Every size against every pair, interleaved; the JSON-ready results."""
    started = time.perf_counter()
    meta = machine_info()
    meta["sizes"] = list(sizes)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="gqlwire-sse-bench-") as logs, ExitStack() as stack:
        servers = {
            name: stack.enter_context(running(CONFIGS_BY_NAME[name], Path(logs)))
            for name in SERVERS
        }
        for server in servers.values():  # imports and caches are not measured
            for transport in TRANSPORTS:
                run_loadgen(
                    {
                        "scenario": "warmup",
                        "host": "127.0.0.1",
                        "port": server.port,
                        "transport": transport,
                    },
                    120,
                )
        for size in sizes:
            runs: dict[Pair, list[dict[str, Any]]] = {pair: [] for pair in pairs()}
            for _ in range(int(size.get("repeat", 1))):
                for pair in pairs():
                    runs[pair].append(_one_run(servers[pair.server], pair, size))
            for pair, pair_runs in runs.items():
                result = best_of(pair_runs)
                key = f"{pair.server}/{pair.transport}/{size['subscribers']}"
                results[key] = {
                    "library": pair.server.split("-")[0],
                    "server": pair.server.split("-")[1],
                    "transport": pair.transport,
                    **size,
                    **result,
                }
                log(f"  {pair.name:<16} {size['subscribers']:>5} subscribers  {_brief(result)}")
        for name, server in servers.items():
            server.stop()
            results[f"{name}/log"] = server.log_problems()
    meta["wall_s"] = time.perf_counter() - started
    return {"meta": meta, "results": results}


def _brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"ERROR {str(result['error'])[:160]}"
    status = "ok" if result.get("ok") else "COUNTS WRONG"
    return (
        f"{result['msgs_per_s']:>9,.0f} events/s  server {result['server_cpu_us_per_msg']:.1f} "
        f"us/event  client {result['client_cpu_us_per_msg']:.1f} us/event  {status}"
    )


def _number(value: Any, digits: int = 1) -> str:
    if not isinstance(value, int | float):
        return "n/a"
    return f"{value:,.{digits}f}"


def _cell(text: Any, limit: int = 80) -> str:
    """``text`` fit for one table cell: one line, no column separator."""
    return " ".join(str(text).replace("|", "/").split())[:limit]


def table(report: dict[str, Any]) -> str:
    """The Markdown table of one run: one row per (subscribers, library, transport)."""
    lines = [
        "| subscribers | library | transport | events/s | server CPU µs/event "
        "| client CPU µs/event | client/server CPU | server RSS MB | counts |",
        "|---:|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for key, result in report["results"].items():
        if key.endswith("/log"):
            continue
        if "error" in result:
            lines.append(
                f"| {result['subscribers']:,} | {result['library']} | "
                f"{result['transport'].upper()} | error: {_cell(result['error'])} "
                "| | | | | |"
            )
            continue
        rss = result.get("server_rss_bytes")
        lines.append(
            f"| {result['subscribers']:,} | {result['library']} | {result['transport'].upper()} "
            f"| {_number(result.get('msgs_per_s'), 0)} "
            f"| {_number(result.get('server_cpu_us_per_msg'))} "
            f"| {_number(result.get('client_cpu_us_per_msg'))} "
            f"| {_number(result.get('client_vs_server_cpu'), 2)} "
            f"| {_number(rss / 1e6 if isinstance(rss, int | float) else None)} "
            f"| {'ok' if result.get('ok') else 'WRONG'} |"
        )
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    return "\n".join(
        [
            "# SSE fan-out",
            "",
            f"{meta['date']}; {meta['cpu_model']}, {meta['cores']} cores; {meta['python']}; "
            f"graphql-core {meta['graphql_core']}; {meta['pinning']}; "
            f"run took {meta['wall_s']:.0f} s.",
            "",
            "One channel, every subscriber subscribed to it, the events published as fast as "
            "the server's loop allows; uvicorn, one worker. SSE is GraphQL over SSE in distinct "
            "connections mode (one HTTP/1.1 connection per subscriber), WS is "
            "graphql-transport-ws. The best of the rounds by server CPU per event.",
            "",
            table(report),
            "",
        ]
    )


def write(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "sse_fanout.json", out / "sse_fanout.md"
    json_path.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sse_fanout")
    parser.add_argument("--quick", action="store_true", help="a few subscribers, seconds")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    report = run(QUICK if args.quick else FULL)
    for path in write(report, args.out):
        print(f"wrote {path}")
    failed = [
        key
        for key, result in report["results"].items()
        if not key.endswith("/log") and not result.get("ok")
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
