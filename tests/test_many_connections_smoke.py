"""The many-connections benchmark, small (``python -m benchmarks.many_connections
--quick``): 400 connections from 2 client processes on 2 loopback source addresses,
against gqlwire on aiohttp and the raw ceiling, 3 events.

Durations are never asserted: what is checked is that every connection was opened and
subscribed, that every subscriber got every event once and in order, that the report
has every figure, and that a size the open file limit cannot hold is refused with the
reason rather than run half-way.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.many_connections import Refused, kernel_limits, plan
from benchmarks.many_connections_client import SPARE_DESCRIPTORS

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"gqlwire-aiohttp", "raw-aiohttp"}
CONNECTIONS, EVENTS = 400, 3


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("many-connections")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.many_connections", "--quick", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=150,
    )
    assert done.returncode == 0, (
        done.stdout.decode(errors="replace")[-3000:] + done.stderr.decode(errors="replace")[-3000:]
    )
    return out


@pytest.fixture(scope="module")
def report(quick_run: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((quick_run / "many_connections.json").read_text())
    return data


@pytest.mark.timeout(180)
def test_every_subscriber_got_every_event(report: dict[str, Any]) -> None:
    meta = report["meta"]
    assert meta["connections"] == CONNECTIONS and meta["events"] == EVENTS
    assert meta["sources"] == ["127.0.0.2", "127.0.0.3"]
    assert set(report["results"]) == CONFIGS
    for result in report["results"].values():
        assert "error" not in result, result
        assert result["ok"] is True, result
        assert result["opened"] == result["subscribed"] == CONNECTIONS
        assert result["failed"] == 0 and result["retried"] >= 0
        assert result["delivered"] == result["expected"] == CONNECTIONS * EVENTS
        assert result["samples"] == CONNECTIONS * EVENTS
        assert result["lost"] == result["extra"] == result["out_of_order"] == result["gaps"] == 0
        assert result["wrong_start"] == result["protocol_errors"] == 0
        assert [e["event"] for e in result["events"]] == list(range(1, EVENTS + 1))
        assert all(e["complete"] and e["reached"] == CONNECTIONS for e in result["events"])
        assert result["server_log"]["tracebacks"] == 0, result["server_log"]
        assert [run["round"] for run in result["rounds"]] == [1]


@pytest.mark.timeout(180)
def test_report_has_every_figure(quick_run: Path, report: dict[str, Any]) -> None:
    for result in report["results"].values():
        assert result["rss_subscribed_bytes"] > result["rss_fresh_bytes"] > 0
        assert result["bytes_per_connection"] > 0
        p50, p99, top = (result[f"delivery_ms_{k}"] for k in ("p50", "p99", "max"))
        assert 0 <= p50 <= p99 <= top == result["reach_all_ms_max"]
        assert result["server_cpu_us_per_delivery"] > 0
        assert result["server_cpu_s_idle_per_s"] >= 0 and result["events_wall_s"] > 0
    limits = report["meta"]["limits"]
    assert limits["nofile_hard"] != 0 and limits["ip_local_port_range"]
    text = (quick_run / "many_connections.md").read_text()
    assert text.startswith("# Many connections to one process")
    assert "| | gqlwire-aiohttp | raw-aiohttp |" in text
    assert text.count("| counts (every round) | ok | ok |") == 1
    assert "memory per connection" in text and "delivery p50 / p99 / max" in text


def test_a_size_past_the_open_file_limit_is_refused_or_fitted() -> None:
    limits = {**kernel_limits(), "nofile_hard": 1000, "raise_refused": "test"}
    with pytest.raises(Refused, match="hard RLIMIT_NOFILE is 1,000"):
        plan(5000, 2, limits, fit=False)
    fitted = plan(5000, 2, limits, fit=True)
    assert fitted["connections"] == 1000 - SPARE_DESCRIPTORS
    assert fitted["requested_connections"] == 5000 and "1,000" in fitted["limited_by"]
    # Clients are as many as the ephemeral ports need, each from its own source address.
    roomy = {**limits, "nofile_hard": 100_000, "ip_local_port_range": [30000, 40099]}
    two = plan(5000, 2, roomy, fit=False)
    assert two["clients"] == 2 and two["sources"] == ["127.0.0.2", "127.0.0.3"]
    three = plan(25_000, 2, roomy, fit=False)  # 10,000 ports per source address
    assert three["clients"] == 3 and three["sources"][-1] == "127.0.0.4"
