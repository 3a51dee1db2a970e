"""The SSE fan-out benchmark's quick mode (``python -m benchmarks.sse_fanout --quick``):
gqlwire and Strawberry on uvicorn and gqlwire on aiohttp, each over SSE and over
WebSocket, a few subscribers, end to end.

Durations are never asserted; what is checked is that every (server, transport) pair
ran, that the load generator counted every event (nothing lost, duplicated or
reordered), and that the JSON and Markdown outputs are well formed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import strawberry.subscriptions

# Strawberry serves GraphQL over SSE from 0.320 on (the bench extra asks for it; the dev
# extra allows older releases, which a graphql-core 3.2 install may hold).
pytestmark = pytest.mark.skipif(
    not hasattr(strawberry.subscriptions, "GRAPHQL_SSE_PROTOCOL"),
    reason="this Strawberry release has no GraphQL over SSE (0.320 or newer has)",
)

REPO_ROOT = Path(__file__).resolve().parents[1]
PAIRS = {
    (library, server, transport)
    for library, server in (
        ("gqlwire", "uvicorn"),
        ("strawberry", "uvicorn"),
        ("gqlwire", "aiohttp"),
    )
    for transport in ("sse", "ws")
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sse-bench")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.sse_fanout", "--quick", "--out", str(out)],
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
    data: dict[str, Any] = json.loads((quick_run / "sse_fanout.json").read_text())
    return data


def measured(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [result for key, result in report["results"].items() if not key.endswith("/log")]


@pytest.mark.timeout(180)
def test_every_pair_delivered_every_event(report: dict[str, Any]) -> None:
    results = measured(report)
    assert {(r["library"], r["server"], r["transport"]) for r in results} == PAIRS
    for result in results:
        assert "error" not in result, result
        assert result["ok"] is True, result
        assert result["delivered"] == result["expected"] == result["subscribers"] * result["events"]
        assert result["lost"] == result["out_of_order"] == result["gaps"] == 0
        for key in ("msgs_per_s", "server_cpu_us_per_msg", "client_cpu_us_per_msg"):
            assert result[key] > 0, key
        assert result["server_rss_bytes"] > 0


@pytest.mark.timeout(180)
def test_servers_logged_no_error(report: dict[str, Any]) -> None:
    logs = {key: value for key, value in report["results"].items() if key.endswith("/log")}
    assert set(logs) == {f"{library}-{server}/log" for library, server, _ in PAIRS}
    for problems in logs.values():
        assert problems["tracebacks"] == 0, problems
        assert problems["error_lines"] == 0, problems


@pytest.mark.timeout(180)
def test_markdown_has_one_row_per_pair(quick_run: Path, report: dict[str, Any]) -> None:
    text = (quick_run / "sse_fanout.md").read_text()
    assert text.startswith("# SSE fan-out")
    assert f"graphql-core {report['meta']['graphql_core']}" in text
    rows = [line for line in text.splitlines() if line.startswith("| 5 |")]
    assert sorted(row.split(" | ")[1:4] for row in rows) == sorted(
        [library, server, transport.upper()] for library, server, transport in PAIRS
    )
    assert all(row.rstrip().endswith("| ok |") for row in rows), rows
