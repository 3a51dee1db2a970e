"""The HTTP query benchmark's quick mode (``python -m benchmarks.http_queries --quick``):
gqlwire on aiohttp and uvicorn, Strawberry and Ariadne on uvicorn, a small query and a
1,000-item list, under Debian's ``wrk``.

Durations are never asserted: what is checked is that every (server, query) pair ran,
that every server's answer was the expected one before it was measured (the benchmark
refuses to run otherwise), that no request failed, and that the outputs are well formed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PAIRS = {
    (library, server, query)
    for library, server in (
        ("gqlwire", "aiohttp"),
        ("gqlwire", "uvicorn"),
        ("strawberry", "uvicorn"),
        ("ariadne", "uvicorn"),
    )
    for query in ("hello", "items (1,000)")
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("wrk") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("wrk is missing (scripts/test_matrix.py installs it under CI)")
        pytest.skip("the HTTP benchmark needs Debian's wrk: apt-get install -y wrk")
    out = tmp_path_factory.mktemp("http-bench")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.http_queries", "--quick", "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=240,
    )
    assert done.returncode == 0, (
        done.stdout.decode(errors="replace")[-3000:] + done.stderr.decode(errors="replace")[-3000:]
    )
    return out


def test_every_server_answers_every_query_without_a_failed_request(quick_run: Path) -> None:
    report: dict[str, Any] = json.loads((quick_run / "http_queries.json").read_text())
    rows = report["results"].values()
    assert {(row["library"], row["server"], row["query"]) for row in rows} == PAIRS
    for row in rows:
        assert row["ok"], row
        assert row["requests"] > 0 and row["non_2xx"] == 0, row
        assert row["p50_ms"] <= row["p99_ms"], row


def test_the_markdown_table_has_a_row_per_pair(quick_run: Path) -> None:
    table = (quick_run / "http_queries.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == len(PAIRS) + 1  # and the header
    assert "ERRORS" not in table and "| error |" not in table
