"""The benchmark's quick mode over one server configuration: it runs end to end and
writes its three result files with the expected structure.

Durations are never asserted (they depend on the machine); what is checked is that
every scenario ran, that message counts were verified (nothing lost, duplicated or
reordered), and that the JSON, Markdown and PNG outputs are well formed.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import graphql
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG = "gqlwire-aiohttp"
SCENARIOS = ("memory", "connect", "fanout", "single", "latency", "stalled")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--configs", CONFIG, "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    return out


@pytest.fixture(scope="module")
def report(quick_run: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((quick_run / "latest.json").read_text())
    return data


@pytest.mark.timeout(120)
def test_json_has_machine_and_every_scenario(report: dict[str, Any]) -> None:
    meta = report["meta"]
    for key in ("date", "cpu_model", "cores", "python", "packages", "calibration_ms", "mode"):
        assert key in meta
    # the servers ran on this interpreter, and so on this graphql-core release
    assert meta["python"] == f"{platform.python_implementation()} {platform.python_version()}"
    assert meta["graphql_core"] == graphql.version
    assert meta["mode"] == "quick"
    assert meta["calibration_ms"] > 0
    assert report["configs"] == [CONFIG]
    results = report["results"][CONFIG]
    assert "error" not in results
    for scenario in SCENARIOS:
        assert scenario in results, scenario
        assert "error" not in results[scenario], results[scenario]


@pytest.mark.timeout(120)
def test_message_counts_were_verified(report: dict[str, Any]) -> None:
    results = report["results"][CONFIG]
    for scenario in ("connect", "fanout", "single", "latency"):
        result = results[scenario]
        assert result["ok"] is True, (scenario, result)
        assert result["delivered"] == result["expected"] > 0
        assert result["lost"] == result["out_of_order"] == result["gaps"] == 0
    assert results["stalled"]["ok"] is True, results["stalled"]


@pytest.mark.timeout(120)
def test_measurements_are_present(report: dict[str, Any]) -> None:
    results = report["results"][CONFIG]
    fanout = results["fanout"]
    for key in ("msgs_per_s", "server_cpu_us_per_msg", "client_cpu_s", "server_cpu_s", "wall_s"):
        assert fanout[key] > 0, key
    assert results["memory"]["connections"] > 0
    assert results["memory"]["rss_after_bytes"] > 0
    latency = results["latency"]
    assert latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    assert results["connect"]["connections_per_s"] > 0
    stalled = results["stalled"]
    assert {"baseline", "stalled", "throughput_cost", "outcome"} <= set(stalled)
    targets = {row["target"]: row for row in report["targets"]}
    assert any("Memory" in name for name in targets)
    assert all({"value", "goal", "op", "met"} <= set(row) for row in targets.values())


@pytest.mark.timeout(120)
def test_markdown_has_a_table_per_scenario(quick_run: Path) -> None:
    text = (quick_run / "latest.md").read_text()
    assert "sum(range(10**6))" in text
    runtime = f"{platform.python_implementation()} {platform.python_version()}"
    assert f"{runtime}, graphql-core {graphql.version}" in text
    for title in (
        "## Targets",
        "## Fan-out",
        "## Single stream",
        "## Connect + subscribe rate",
        "## Memory per idle subscribed connection",
        "## Latency",
        "## Stalled client",
    ):
        assert title in text, title
    table_rows = [line for line in text.splitlines() if line.startswith(f"| {CONFIG} |")]
    assert len(table_rows) == len(SCENARIOS)


@pytest.mark.timeout(120)
def test_chart_is_a_png(quick_run: Path) -> None:
    data = (quick_run / "latest.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
