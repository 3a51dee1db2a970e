"""The run's results as JSON, Markdown tables, a bar chart, and the issue's target ratios."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .configs import CONFIGS, SCENARIO_TITLES

Results = dict[str, Any]

GQLWIRE = "gqlwire-aiohttp"
STRAWBERRY = "strawberry-uvicorn"
RAW = "raw-aiohttp"


def _get(run: Results, config: str, scenario: str, key: str) -> Any:
    result = run["results"].get(config, {}).get(scenario, {})
    if not isinstance(result, dict) or "error" in result:
        return None
    return result.get(key)


def _ratio(numerator: Any, denominator: Any) -> float | None:
    if not isinstance(numerator, int | float) or not isinstance(denominator, int | float):
        return None
    return numerator / denominator if denominator else None


def targets(run: Results) -> list[dict[str, Any]]:
    """The issue's targets, each with its measured value (``None`` when not measured)."""

    def cpu(config: str, scenario: str) -> Any:
        return _get(run, config, scenario, "server_cpu_us_per_msg")

    def rate(config: str, scenario: str) -> Any:
        return _get(run, config, scenario, "msgs_per_s")

    rows: list[Row] = [
        (
            "Fan-out: Strawberry CPU/msg ÷ gqlwire-aiohttp CPU/msg",
            _ratio(cpu(STRAWBERRY, "fanout"), cpu(GQLWIRE, "fanout")),
            ">=",
            10.0,
            "x",
        ),
        (
            "Fan-out: gqlwire-aiohttp msgs/s ÷ Strawberry msgs/s",
            _ratio(rate(GQLWIRE, "fanout"), rate(STRAWBERRY, "fanout")),
            ">=",
            10.0,
            "x",
        ),
        (
            "Single stream: gqlwire-aiohttp msgs/s ÷ Strawberry msgs/s",
            _ratio(rate(GQLWIRE, "single"), rate(STRAWBERRY, "single")),
            ">=",
            2.0,
            "x",
        ),
        (
            "Memory per idle subscribed connection, gqlwire-aiohttp",
            _get(run, GQLWIRE, "memory", "kb_per_connection"),
            "<=",
            20.0,
            "KB",
        ),
        (
            "Latency p99 at 1,000 subscribers x 20 events/s, gqlwire-aiohttp",
            _get(run, GQLWIRE, "latency", "p99_ms"),
            "<=",
            50.0,
            "ms",
        ),
        (
            "Stalled client: healthy subscribers' throughput lost, gqlwire-aiohttp",
            _pct(_get(run, GQLWIRE, "stalled", "throughput_cost")),
            "<",
            10.0,
            "%",
        ),
    ]
    rows += _against_raw(run)
    table = []
    for name, value, op, target, unit, *key in rows:
        met = None
        if value is not None and target is not None:
            met = (
                value >= target if op == ">=" else value <= target if op == "<=" else value < target
            )
        row = {"target": name, "value": value, "op": op, "goal": target, "unit": unit, "met": met}
        if key:
            row["config"], row["metric"] = key[0]
        table.append(row)
    return table


Row = tuple[Any, ...]
"""(target, measured, op, goal, unit[, (configuration, metric)]): the last for the rows
against the raw ceiling, which :func:`readme_targets` puts in columns per server."""

# The targets against the raw ceiling of the same server, measured in the same
# run: (scenario, what, the gqlwire configurations it is a goal for, those only reported).
_SINGLE_GOAL, _FANOUT_GOAL, _MEMORY_GOAL, _CONNECT_GOAL = 0.5, 0.8, 1.5, 0.8


def _against_raw(run: Results) -> list[Row]:
    """Each gqlwire configuration of the run against its own raw ceiling (its config's
    ``raw``): msgs/s and CPU/msg for fan-out and the single stream, KB/connection for
    memory, connections/s for connect. A row whose goal is ``None`` is reported only."""
    by_name = {config.name: config for config in CONFIGS}
    rows: list[Row] = []
    measured = [
        by_name[name]
        for name in run["configs"]
        if name in by_name and by_name[name].graphql_library == "gqlwire" and by_name[name].raw
    ]

    def rate(config: str, scenario: str) -> Any:
        return _get(run, config, scenario, "msgs_per_s")

    def cpu(config: str, scenario: str) -> Any:
        return _get(run, config, scenario, "server_cpu_us_per_msg")

    for scenario, title, goal, goal_servers in (
        ("single", "Single stream", _SINGLE_GOAL, {"aiohttp"}),
        ("fanout", "Fan-out", _FANOUT_GOAL, {"aiohttp", "uvicorn", "granian"}),
    ):
        for config in measured:
            wanted = goal if config.server in goal_servers else None
            rows += [
                (
                    f"{title}: {config.name} msgs/s ÷ {config.raw} msgs/s",
                    _ratio(rate(config.name, scenario), rate(config.raw, scenario)),
                    ">=",
                    wanted,
                    "x",
                    (config.name, f"{scenario} msgs/s"),
                ),
                (
                    f"{title}: {config.raw} CPU/msg ÷ {config.name} CPU/msg",
                    _ratio(cpu(config.raw, scenario), cpu(config.name, scenario)),
                    ">=",
                    wanted,
                    "x",
                    (config.name, f"{scenario} CPU/msg"),
                ),
            ]
    for config in measured:
        rows.append(
            (
                f"Memory per idle subscribed connection: {config.name} KB ÷ {config.raw} KB",
                _ratio(
                    _get(run, config.name, "memory", "kb_per_connection"),
                    _get(run, config.raw, "memory", "kb_per_connection"),
                ),
                "<=",
                _MEMORY_GOAL,
                "x",
                (config.name, "memory"),
            )
        )
    for config in measured:
        rows.append(
            (
                f"Connect + subscribe: {config.name} connections/s ÷ {config.raw} connections/s",
                _ratio(
                    _get(run, config.name, "connect", "connections_per_s"),
                    _get(run, config.raw, "connect", "connections_per_s"),
                ),
                ">=",
                _CONNECT_GOAL if config.server == "aiohttp" else None,
                "x",
                (config.name, "connect"),
            )
        )
    return rows


def _pct(value: Any) -> float | None:
    return value * 100 if isinstance(value, int | float) else None


# -- Markdown -----------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**NO**"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


Column = tuple[str, Callable[[dict[str, Any]], Any]]


def _counts(result: dict[str, Any]) -> str:
    if result.get("ok"):
        return "ok"
    parts = [
        f"{key} {result[key]}"
        for key in ("lost", "extra", "out_of_order", "gaps", "wrong_start")
        if result.get(key)
    ]
    return "**" + (", ".join(parts) or "not ok") + "**"


def _waits(result: dict[str, Any]) -> str:
    """How much other load got in the way: seconds the server and the client were
    runnable but waiting for a CPU."""
    server, client = result.get("server_waited_for_cpu_s"), result.get("client_waited_for_cpu_s")
    if server is None or client is None:
        return "-"
    return f"{server:.2f} / {client:.2f}"


def _closed_as_slow(result: dict[str, Any]) -> int | None:
    """Connections gqlwire closed with 1013 because their outbox overflowed."""
    closed = result.get("server_extra_delta", {}).get("slow_consumers_closed")
    return int(closed) if closed is not None else None


def _client_share(result: dict[str, Any]) -> str:
    total, user = result.get("client_vs_server_cpu"), result.get("client_vs_server_user")
    if total is None:
        return "-"
    return f"{total:.2f} ({user:.2f})" if user is not None else f"{total:.2f}"


def _stall_waits(result: dict[str, Any]) -> str:
    parts = [
        result.get(part, {}).get("server_waited_for_cpu_s") for part in ("baseline", "stalled")
    ]
    if any(p is None for p in parts):
        return "-"
    return " / ".join(f"{p:.2f}" for p in parts)


_THROUGHPUT: list[Column] = [
    ("msgs/s (wall)", lambda r: r.get("msgs_per_s")),
    ("server µs CPU/msg", lambda r: r.get("server_cpu_us_per_msg")),
    ("msgs per server CPU-s", lambda r: r.get("msgs_per_server_cpu_s")),
    ("client µs CPU/msg", lambda r: r.get("client_cpu_us_per_msg")),
    ("client ÷ server CPU (user only)", _client_share),
    ("wait for CPU s, server / client", _waits),
    ("closed as slow", _closed_as_slow),
    ("counts", _counts),
]

COLUMNS: dict[str, list[Column]] = {
    "fanout": _THROUGHPUT,
    "single": _THROUGHPUT,
    "connect": [
        ("connections/s", lambda r: r.get("connections_per_s")),
        ("server µs CPU/connection", lambda r: r.get("server_cpu_us_per_connection")),
        ("ack p50 ms", lambda r: r.get("ack_ms_p50")),
        ("ack p99 ms", lambda r: r.get("ack_ms_p99")),
        ("client ÷ server CPU (user only)", _client_share),
        ("wait for CPU s, server / client", _waits),
        ("counts", _counts),
    ],
    "memory": [
        ("KB/connection", lambda r: r.get("kb_per_connection")),
        ("RSS before MB", lambda r: _mb(r.get("rss_before_bytes"))),
        ("RSS after MB", lambda r: _mb(r.get("rss_after_bytes"))),
    ],
    "latency": [
        ("p50 ms", lambda r: r.get("p50_ms")),
        ("p90 ms", lambda r: r.get("p90_ms")),
        ("p99 ms", lambda r: r.get("p99_ms")),
        ("max ms", lambda r: r.get("max_ms")),
        ("server CPU busy %", lambda r: _pct(r.get("server_cpu_utilization"))),
        ("client ÷ server CPU (user only)", _client_share),
        ("wait for CPU s, server / client", _waits),
        ("counts", _counts),
    ],
    "stalled": [
        ("healthy events/s per subscriber, no stall", lambda r: _sub(r, "baseline")),
        ("… with one stalled", lambda r: _sub(r, "stalled")),
        ("throughput lost %", lambda r: _pct(r.get("throughput_cost"))),
        ("what happened to the stalled client", lambda r: r.get("outcome")),
        ("server wait for CPU s, no stall / stall", _stall_waits),
        ("counts", lambda r: "ok" if r.get("ok") else "**not ok**"),
    ],
}


SCENARIO_NOTES = {
    "fanout": "{subscribers:,} subscribers of one channel, {events:,} events published as fast "
    "as the server's loop allows; best of {repeat} runs, the servers taking turns.",
    "single": "{subscribers:,} subscriber, {events:,} events as fast as possible (nothing to "
    "share); best of {repeat} runs, the servers taking turns.",
    "connect": "{subscribers:,} connections, each: TCP connect, upgrade, connection_init, ack, "
    "subscribe, then one event to all (at most 64 handshakes in flight).",
    "memory": "Server RSS growth (after gc) divided by {subscribers:,} idle connections, each "
    "with one subscription.",
    "latency": "{subscribers:,} subscribers, {rate:g} events/s for {duration:g} s: publish "
    "time (in the event) to the client's receive time. A server that cannot deliver "
    "{subscribers:,} x {rate:g} msgs/s falls behind, and its latency grows for the whole run.",
    "stalled": "{subscribers:,} connections, {events:,} events as fast as possible. One "
    "connection carries {stalled_subscriptions} subscriptions of the channel, so that it "
    "gets {stalled_subscriptions} frames per event (in the full run, more than the ~3 MB the "
    "kernel buffers for one socket here); it reads normally in the baseline and never reads "
    "(4 KB receive buffer) in the stalled run. Throughput lost: the healthy subscribers' "
    "events/s, stalled run vs baseline (100% when they stopped until the stalled client read "
    "again).",
}

NOTES = """## How to read these numbers

- **Server CPU per message** (user + system time of the server process over the measured
  window, divided by the messages delivered) is the stable metric. **msgs/s** and
  **latency** are wall-clock figures: other processes on this shared machine slow them
  down; the *wait for CPU* columns give the seconds the server and the client were
  runnable but waiting for a CPU (from the scheduler's statistics), so a reader can tell
  a slow server from a busy machine.
- Every server starts at the beginning and idles while the others are measured. The
  scenarios run one after the other, and within one the servers take turns (round after
  round when it is repeated), each run waiting until the previous server has finished
  cleaning up. A disturbance from other work on the machine thus hits neighbouring
  servers alike instead of one configuration's whole run; the best run of each is kept.
- On loopback the kernel's TCP work for a packet is charged partly to the sender and
  partly to the receiver, so the client's *system* time includes work done for the
  server's sends. The *user only* ratio compares what each side's own code costs.
- Every server answers `connection_init`, `subscribe` and the publish endpoint in the same
  process; events are `{seq, ts, payload}` with ~150-byte `next` frames. Message counts
  are checked per subscriber: every event once, in order ("counts").
- gqlwire runs with `share_key=lambda ctx: "all"` and otherwise default options
  (`max_pending_messages=1000`, `overflow_policy="close"`). Strawberry and Ariadne use an
  async generator per subscription fed by its own `asyncio.Queue`. The raw servers send the
  same frames with no GraphQL, from one publisher loop that awaits each send.
"""


def _mb(value: Any) -> float | None:
    return value / 2**20 if isinstance(value, int | float) else None


def _sub(result: dict[str, Any], part: str) -> Any:
    inner = result.get(part)
    return inner.get("per_subscriber_events_per_s") if isinstance(inner, dict) else None


def _graphql_core(meta: dict[str, Any]) -> str:
    """The graphql-core release of a run (runs recorded before it had its own key list it
    among the packages)."""
    return str(meta.get("graphql_core") or meta["packages"].get("graphql-core", "unknown"))


def _others(meta: dict[str, Any]) -> str:
    """Which servers ran under another interpreter, and on what."""
    others = meta.get("interpreters") or {}
    if not others:
        return "every server"
    return "every server but " + "; ".join(
        f"{name}: {info.get('python', '?')}, graphql-core {info.get('graphql_core', '?')}"
        + (f" ({info['error']})" if info.get("error") else "")
        for name, info in others.items()
    )


def markdown(run: Results) -> str:
    meta = run["meta"]
    lines = [
        "# Fan-out benchmark",
        "",
        f"- Date: {meta['date']} ({meta['mode']} run, {meta['wall_s']:.0f} s)",
        f"- Machine: {meta['cpu_model']}, {meta['cores']} cores, Linux {meta['kernel']}",
        f"- Calibration: `sum(range(10**6))` = {meta['calibration_ms']:.1f} ms (best of 5)",
        f"- Load average at start / end: {_loads(meta['load_average_start'])} / "
        f"{_loads(meta['load_average_end'])}",
        f"- Runtime: {meta['python']}, graphql-core {_graphql_core(meta)} ({_others(meta)})",
        "- Packages: " + ", ".join(f"{k} {v}" for k, v in meta["packages"].items()),
        f"- Event loop: {meta['event_loop']}; pinning: {meta['pinning']}",
        "- Servers: one process, one worker; load generator: raw asyncio WebSocket clients in "
        "a separate process. CPU is user + system time of each process (`getrusage`).",
        "",
        "## Targets",
        "",
        "| target | measured | goal | met |",
        "|---|---|---|---|",
    ]
    for row in targets(run):
        value = _fmt(row["value"], 2)
        lines.append(
            f"| {row['target']} | {value} {row['unit']} | {_goal(row)} | {_fmt(row['met'])} |"
        )
    floor = _get(run, RAW, "latency", "p99_ms")
    if floor is not None:
        lines += [
            "",
            f"For scale: in the same run the raw ceiling on aiohttp (no GraphQL) had a p99 "
            f"latency of {floor:.1f} ms; the latency includes the load generator's own "
            "queueing (one process reads all 1,000 sockets).",
        ]
    for scenario, columns in COLUMNS.items():
        if not any(scenario in run["results"].get(c, {}) for c in run["configs"]):
            continue
        lines += ["", f"## {SCENARIO_TITLES[scenario]}", ""]
        sizes = meta["sizes"].get(scenario)
        if sizes:
            lines += [SCENARIO_NOTES[scenario].format(**{"repeat": 1, **sizes}), ""]
        lines.append("| server | " + " | ".join(name for name, _ in columns) + " |")
        lines.append("|---" * (len(columns) + 1) + "|")
        for config in run["configs"]:
            result = run["results"].get(config, {}).get(scenario)
            if not isinstance(result, dict):
                # Every configuration has a row: one that did not start says so.
                error = run["results"].get(config, {}).get("error", "not measured")
                lines.append(f"| {config} | did not run: {str(error)[:200]} |")
                continue
            if "error" in result:
                lines.append(f"| {config} | error: {result['error'][:200]} |")
                continue
            cells = [_fmt(get(result)) for _, get in columns]
            lines.append(f"| {config} | " + " | ".join(cells) + " |")
    problems = [
        (config, result.get("server_log", {}), result.get("error"))
        for config, result in run["results"].items()
    ]
    if any(log.get("tracebacks") or log.get("error_lines") or error for _, log, error in problems):
        lines += ["", "## Server logs", ""]
        for config, log, error in problems:
            if error:
                lines.append(f"- {config}: did not run: {error}")
            elif log.get("tracebacks") or log.get("error_lines"):
                first = "; ".join(log.get("first_errors", []))[:300]
                lines.append(
                    f"- {config}: {log['tracebacks']} traceback(s), "
                    f"{log['error_lines']} error line(s): {first}"
                )
    lines += ["", NOTES]
    return "\n".join(lines)


def _loads(values: Any) -> str:
    return " ".join(f"{v:.2f}" for v in values)


# -- chart --------------------------------------------------------------------------------

_COLORS = {"gqlwire": "#2a7ab9", "strawberry": "#d1495b", "ariadne": "#edae49", "raw": "#66a182"}

_CHARTS: list[tuple[str, str, Callable[[dict[str, Any]], Any], bool]] = [
    (
        "fanout",
        "Fan-out: server µs CPU per msg (lower is better)",
        lambda r: r.get("server_cpu_us_per_msg"),
        True,
    ),
    ("fanout", "Fan-out: delivered msgs/s", lambda r: r.get("msgs_per_s"), True),
    ("single", "Single stream: msgs/s", lambda r: r.get("msgs_per_s"), True),
    ("connect", "Connect + subscribe: connections/s", lambda r: r.get("connections_per_s"), False),
    (
        "memory",
        "Memory: KB per idle subscribed connection",
        lambda r: r.get("kb_per_connection"),
        False,
    ),
    ("latency", "Latency p99, ms (lower is better)", lambda r: r.get("p99_ms"), True),
    (
        "stalled",
        "Stalled client: healthy throughput lost, %",
        lambda r: _pct(r.get("throughput_cost")),
        False,
    ),
]


def chart(run: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = run["configs"]
    figure, axes = plt.subplots(2, 4, figsize=(18, 8.5))
    flat = list(axes.flat)
    for axis, (scenario, title, get, log_scale) in zip(flat, _CHARTS, strict=False):
        names, values = [], []
        for config in configs:
            result = run["results"].get(config, {}).get(scenario)
            value = get(result) if isinstance(result, dict) and "error" not in result else None
            names.append(config)
            values.append(value if isinstance(value, int | float) else 0.0)
        colors = [_COLORS.get(name.split("-")[0], "#888888") for name in names]
        bars = axis.bar(range(len(names)), values, color=colors)
        axis.set_title(title, fontsize=10)
        axis.set_xticks(range(len(names)))
        axis.set_xticklabels(names, rotation=40, ha="right", fontsize=8)
        if log_scale and any(v > 0 for v in values):
            axis.set_yscale("log")
        for bar, value in zip(bars, values, strict=True):
            if value:
                axis.annotate(
                    f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    for axis in flat[len(_CHARTS) :]:
        axis.axis("off")
    if len(flat) > len(_CHARTS):
        from matplotlib.patches import Patch

        flat[len(_CHARTS)].legend(
            handles=[Patch(color=color, label=name) for name, color in _COLORS.items()],
            loc="center",
            title="library (server after the dash)",
            fontsize=9,
        )
    meta = run["meta"]
    figure.suptitle(
        f"gqlwire fan-out benchmark — {meta['date']}, {meta['cpu_model']}, {meta['cores']} cores, "
        f"{meta['python']}, graphql-core {_graphql_core(meta)}, "
        f"calibration {meta['calibration_ms']:.1f} ms",
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def write(run: Results, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    run = {**run, "targets": targets(run)}
    paths = {
        "json": out_dir / "latest.json",
        "md": out_dir / "latest.md",
        "png": out_dir / "latest.png",
    }
    paths["json"].write_text(json.dumps(run, indent=2, sort_keys=False) + "\n")
    paths["md"].write_text(markdown(run))
    chart(run, paths["png"])
    return paths


_README_METRICS = (
    ("single msgs/s", "Single stream, msgs/s"),
    ("single CPU/msg", "Single stream, CPU/msg (raw ÷ gqlwire)"),
    ("fanout msgs/s", "Fan-out, msgs/s"),
    ("fanout CPU/msg", "Fan-out, CPU/msg (raw ÷ gqlwire)"),
    ("memory", "Memory per idle subscribed connection (gqlwire ÷ raw)"),
    ("connect", "Connect + subscribe, connections/s"),
)


def readme_targets(run: Results) -> str:
    """The README's table of the targets against the raw ceiling: a row per measure, a
    column per gqlwire configuration, from the rows of :func:`targets`."""
    rows = [row for row in targets(run) if "metric" in row]
    configs = list(dict.fromkeys(row["config"] for row in rows))
    lines = [
        "| gqlwire ÷ the same server's raw ceiling | goal | " + " | ".join(configs) + " |",
        "|---|---|" + "---:|" * len(configs),
    ]
    for metric, title in _README_METRICS:
        cells: list[str] = []
        goals: dict[str, list[str]] = {}  # goal -> the servers it is set for
        for config in configs:
            row = next((r for r in rows if r["config"] == config and r["metric"] == metric), None)
            if row is None or row["value"] is None:
                cells.append("-")
                continue
            if row["goal"] is not None:
                servers = goals.setdefault(f"{row['op']} {row['goal']:g}x", [])
                server = config.split("-")[1]
                if server not in servers:
                    servers.append(server)
            verdict = {True: "", False: " **missed**", None: " (reported)"}[row["met"]]
            cells.append(f"{row['value']:.2f}x{verdict}")
        goal = "; ".join(f"{g} ({', '.join(servers)})" for g, servers in goals.items()) or "-"
        lines.append(f"| {title} | {goal} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _goal(row: dict[str, Any]) -> str:
    if row["goal"] is None:
        return "reported only"
    return f"{row['op']} {row['goal']:g} {row['unit']}"


def print_targets(run: Results, log: Callable[[str], None] = print) -> None:
    log("Targets of the issue:")
    for row in targets(run):
        value = "not measured" if row["value"] is None else f"{row['value']:.2f} {row['unit']}"
        verdict = {True: "met", False: "MISSED", None: "-"}[row["met"]]
        log(f"  {row['target']}: {value} ({_goal(row)}) {verdict}")


def main(argv: list[str]) -> int:
    """``python -m benchmarks.report RESULTS.json``: the README's target table of a run."""
    if len(argv) != 1:
        print("usage: python -m benchmarks.report results/latest.json", file=sys.stderr)
        return 2
    print(readme_targets(json.loads(Path(argv[0]).read_text())), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
