"""The fan-out benchmark's report (benchmarks/report.py) holds each gqlwire server
against the raw ceiling of the same server in the same run, and renders a row for every
configuration in every scenario's table; the graphql-core 3.2 configuration runs when
its interpreter is there.

These check the report's arithmetic on a run written here (no servers start: the smoke
test in test_benchmark_smoke.py runs the real thing)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import configs
from benchmarks.configs import QUICK
from benchmarks.report import markdown, readme_targets, targets

SERVERS = ("aiohttp", "uvicorn", "granian")


def _run(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    meta = {
        "date": "2026-12-06 12:00 UTC",
        "mode": "quick",
        "wall_s": 1.0,
        "cpu_model": "test",
        "cores": 2,
        "kernel": "test",
        "calibration_ms": 10.0,
        "load_average_start": (0.0, 0.0, 0.0),
        "load_average_end": (0.0, 0.0, 0.0),
        "python": "CPython 3.11",
        "graphql_core": "3.3.2",
        "packages": {},
        "event_loop": "asyncio",
        "pinning": "none",
        "sizes": QUICK,
    }
    return {"meta": meta, "configs": list(results), "results": results}


def _measured(rate: float, cpu: float, kb: float, connections: float) -> dict[str, Any]:
    throughput = {"msgs_per_s": rate, "server_cpu_us_per_msg": cpu, "ok": True}
    return {
        "single": throughput,
        "fanout": throughput,
        "memory": {"kb_per_connection": kb},
        "connect": {"connections_per_s": connections, "ok": True},
    }


def _rows(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["target"]: row for row in targets(run)}


def test_each_gqlwire_server_is_held_against_its_own_raw_ceiling() -> None:
    results = {}
    for index, server in enumerate(SERVERS, start=1):
        # Raw ceilings that differ per server, so that a row that compared against
        # another server's would show it.
        results[f"raw-{server}"] = _measured(1000.0 * index, 10.0 * index, 10.0 * index, 100.0)
        results[f"gqlwire-{server}"] = _measured(600.0 * index, 25.0 * index, 16.0 * index, 70.0)
    rows = _rows(_run(results))

    single = rows["Single stream: gqlwire-aiohttp msgs/s ÷ raw-aiohttp msgs/s"]
    assert single["value"] == pytest.approx(0.6)
    assert (single["goal"], single["met"]) == (0.5, True)
    cpu = rows["Single stream: raw-aiohttp CPU/msg ÷ gqlwire-aiohttp CPU/msg"]
    assert cpu["value"] == pytest.approx(0.4)
    assert cpu["met"] is False
    # The issue sets the single-stream goal on aiohttp; the other servers are reported.
    granian = rows["Single stream: gqlwire-granian msgs/s ÷ raw-granian msgs/s"]
    assert granian["value"] == pytest.approx(0.6)
    assert (granian["goal"], granian["met"]) == (None, None)
    for server in SERVERS:
        fanout = rows[f"Fan-out: gqlwire-{server} msgs/s ÷ raw-{server} msgs/s"]
        assert fanout["value"] == pytest.approx(0.6)
        assert fanout["met"] is False
        memory = rows[
            f"Memory per idle subscribed connection: gqlwire-{server} KB ÷ raw-{server} KB"
        ]
        assert memory["value"] == pytest.approx(1.6)
        assert memory["met"] is False
    connect = rows["Connect + subscribe: gqlwire-aiohttp connections/s ÷ raw-aiohttp connections/s"]
    assert connect["value"] == pytest.approx(0.7)
    assert connect["met"] is False


def test_a_server_without_its_raw_ceiling_is_not_measured() -> None:
    rows = _rows(_run({"gqlwire-uvicorn": _measured(600.0, 25.0, 16.0, 70.0)}))
    row = rows["Fan-out: gqlwire-uvicorn msgs/s ÷ raw-uvicorn msgs/s"]
    assert row["value"] is None
    assert row["met"] is None


def test_every_configuration_has_a_row_in_every_table() -> None:
    results = {
        "gqlwire-aiohttp": _measured(600.0, 25.0, 16.0, 70.0),
        "gqlwire-aiohttp-gc32": {"error": "RuntimeError: no graphql-core 3.2 interpreter"},
        "raw-aiohttp": _measured(1000.0, 10.0, 10.0, 100.0),
    }
    text = markdown(_run(results))
    for scenario in ("## Fan-out", "## Single stream", "## Memory", "## Connect"):
        table = text.split(scenario, 1)[1].split("\n## ", 1)[0]
        for config in results:
            assert f"| {config} |" in table, (scenario, config)
        assert "| gqlwire-aiohttp-gc32 | did not run: RuntimeError" in table
    assert "| Single stream: gqlwire-aiohttp-gc32 msgs/s ÷ raw-aiohttp msgs/s | - x |" in text


def test_the_graphql_core_3_2_server_runs_when_its_interpreter_is_there(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = configs.CONFIGS_BY_NAME["gqlwire-aiohttp-gc32"]
    assert (config.server, config.raw) == ("aiohttp", "raw-aiohttp")
    monkeypatch.setattr(configs, "GC32_VENV_PYTHON", tmp_path / "missing" / "python")
    monkeypatch.delenv(configs.GC32_PYTHON_ENV, raising=False)
    assert config.interpreter == ""
    assert config not in configs.default_configs()
    monkeypatch.setenv(configs.GC32_PYTHON_ENV, sys.executable)
    assert config.interpreter == sys.executable
    assert config in configs.default_configs()
    # every other configuration runs on the benchmark's own interpreter
    assert all(c.interpreter is None for c in configs.CONFIGS if c is not config)


def test_the_readme_table_has_a_column_per_gqlwire_server() -> None:
    results = {
        "gqlwire-aiohttp": _measured(600.0, 25.0, 16.0, 70.0),
        "gqlwire-uvicorn": _measured(600.0, 25.0, 12.0, 70.0),
        "raw-aiohttp": _measured(1000.0, 10.0, 10.0, 100.0),
        "raw-uvicorn": _measured(1000.0, 10.0, 10.0, 100.0),
    }
    lines = readme_targets(_run(results)).splitlines()
    assert lines[0].endswith("| gqlwire-aiohttp | gqlwire-uvicorn |")
    rows = {line.split(" | ")[0]: line for line in lines[2:]}
    assert rows["| Single stream, msgs/s"].endswith("| 0.60x | 0.60x (reported) |")
    assert rows["| Memory per idle subscribed connection (gqlwire ÷ raw)"].endswith(
        "| 1.60x **missed** | 1.20x |"
    )
    assert rows["| Connect + subscribe, connections/s"].endswith(
        "| 0.70x **missed** | 0.70x (reported) |"
    )


def test_repeated_rounds_keep_the_least_disturbed_run_of_each_kind() -> None:
    from benchmarks.driver import best_of

    messages = [
        {"msgs_per_s": 900.0, "server_cpu_us_per_msg": 12.0, "ok": True},
        {"msgs_per_s": 1000.0, "server_cpu_us_per_msg": 14.0, "ok": True},
        {"msgs_per_s": 800.0, "server_cpu_us_per_msg": 11.0, "ok": True},
    ]
    best = best_of(messages)
    assert best["server_cpu_us_per_msg"] == 11.0 and best["msgs_per_s"] == 1000.0
    connections = [
        {"connections_per_s": 3000.0, "server_cpu_us_per_connection": 250.0, "ok": True},
        {"connections_per_s": 3500.0, "server_cpu_us_per_connection": 210.0, "ok": True},
        {"connections_per_s": 3400.0, "server_cpu_us_per_connection": 230.0, "ok": False},
    ]
    best = best_of(connections)
    assert best["server_cpu_us_per_connection"] == 210.0
    assert best["connections_per_s"] == 3500.0
    assert best["ok"] is False  # one round lost or reordered something: the result says so
    assert best["runs"] == connections
    assert "msgs_per_s" not in best
