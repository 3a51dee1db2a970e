"""The metrics overhead benchmark's quick mode runs end to end: every configuration's
server serves every result (the load generator checks the counts), and the JSON and
Markdown results have a row per configuration. Durations are never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_quick_run_writes_a_row_per_configuration(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.metrics_overhead", "--quick", "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    report = json.loads((tmp_path / "metrics_overhead.json").read_text())
    assert list(report["median"]) == ["off", "metrics", "metrics+tracing"]
    for figures in report["median"].values():
        assert figures["results_per_second"] > 0
    table = (tmp_path / "metrics_overhead.md").read_text()
    assert [line.split("|")[1].strip() for line in table.splitlines()[4:]] == [
        "off",
        "metrics",
        "metrics+tracing",
    ]
