"""The keep-alive CPU benchmark, small (``python -m benchmarks.keep_alive_cpu``): a few
connections, one short window. Durations and CPU figures are never asserted: only that
every connection stayed open and was pinged, and that the report has its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_a_small_run_pings_every_connection_and_reports() -> None:
    command = [sys.executable, "-m", "benchmarks.keep_alive_cpu", "--connections", "5"]
    command += ["--keep-alive", "0.1", "--window", "0.5", "--rounds", "1"]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    result = json.loads(done.stdout.decode().splitlines()[-1])
    assert result["connections"] == result["alive"] == 5
    [window] = result["windows"]
    assert window["pings"] > 0 and window["cpu_s"] >= 0
    assert result["median_core_fraction"] >= 0
