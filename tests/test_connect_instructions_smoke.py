"""The connect + subscribe instruction count (``python -m benchmarks.connect_instructions``):
a quick run under callgrind counts both servers' rounds, every subscriber of the counted
round gets its event, and the report holds the ratio to the raw server."""

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


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if shutil.which("valgrind") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("valgrind is missing (scripts/test_matrix.py installs it under CI)")
        pytest.skip("the instruction counts need valgrind: apt-get install -y valgrind")
    out = tmp_path_factory.mktemp("connect-instructions")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT / "src"), str(REPO_ROOT), env.get("PYTHONPATH", "")]
    )
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.connect_instructions", "--quick", "--out", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        timeout=420,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    data: dict[str, Any] = json.loads((out / "connect_instructions.json").read_text())
    data["markdown"] = (out / "connect_instructions.md").read_text()
    return data


@pytest.mark.timeout(450)
def test_both_servers_are_counted(quick_run: dict[str, Any]) -> None:
    results = quick_run["results"]
    assert set(results) == {"raw-aiohttp", "gqlwire-aiohttp"}
    for name, result in results.items():
        assert result["connections"] == quick_run["meta"]["connections"] == 50, name
        # A connect + subscribe costs the raw server over half a million instructions:
        # a count far below that missed the round, far above it counted something else.
        assert 100_000 < result["per_connection"] < 10_000_000, (name, result)
        assert 0 <= result["gc_per_connection"] < result["per_connection"], (name, result)


@pytest.mark.timeout(450)
def test_the_report_gives_the_ratio_to_the_raw_server(quick_run: dict[str, Any]) -> None:
    results = quick_run["results"]
    ratio = results["raw-aiohttp"]["per_connection"] / results["gqlwire-aiohttp"]["per_connection"]
    text = quick_run["markdown"]
    assert quick_run["meta"]["valgrind"] in text
    assert f"| `gqlwire-aiohttp` | {results['gqlwire-aiohttp']['per_connection']:,.0f} |" in text
    assert f"{ratio:.2f}x |" in text
