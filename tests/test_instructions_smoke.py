"""The instruction counts (``python -m benchmarks.instructions``): every hot path's case
runs and gives a sane result under plain Python, and a short run under callgrind counts
the same instructions twice and writes its report.

The callgrind run counts only the loop itself (a call of an empty function), which
goes through every step of the machinery (the markers, callgrind's dumps, the
difference of two stretches, the report): under callgrind, importing gqlwire and
graphql-core costs half a minute of CPU, which the full run pays and this test does not.
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


def _env() -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(REPO_ROOT / "src"), str(REPO_ROOT)]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    return env


@pytest.mark.timeout(60)
def test_every_case_runs_without_callgrind() -> None:
    from benchmarks.instructions import CASES

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.instructions",
            "--child",
            ",".join(CASES),
            "--iterations",
            "3",
        ],
        cwd=REPO_ROOT,
        env=_env(),
        capture_output=True,
        timeout=50,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    report = json.loads(done.stdout.decode().splitlines()[-1])
    # Each case checks its own result in its setup (the executed event's data, the
    # compiled executor's when there is one); all but the compiled one must run here.
    assert set(report["counted"]) | set(report["skipped"]) == set(CASES)
    assert set(report["skipped"]) <= {"execute-compiled"}, report["skipped"]
    for reason in report["skipped"].values():
        assert reason.startswith("n/a"), reason


@pytest.fixture(scope="module")
def callgrind_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if shutil.which("valgrind") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("valgrind is missing (scripts/test_matrix.py installs it under CI)")
        pytest.skip("the instruction counts need valgrind: apt-get install -y valgrind")
    out = tmp_path_factory.mktemp("instructions")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.instructions",
            "--iterations",
            "20",
            "--runs",
            "2",
            "--cases",
            "empty",
            "--python",
            f"this={sys.executable}",
            "--out",
            str(out),
        ],
        cwd=REPO_ROOT,
        env=_env(),
        capture_output=True,
        timeout=170,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    data: dict[str, Any] = json.loads((out / "instructions.json").read_text())
    data["markdown"] = (out / "instructions.md").read_text()
    return data


@pytest.mark.timeout(180)
def test_two_runs_count_the_same(callgrind_run: dict[str, Any]) -> None:
    runs = callgrind_run["results"]["this"]
    assert len(runs) == 2
    first, second = (run["empty"]["per_op"] for run in runs)
    assert first > 0, runs
    # Same program, same hash seed: the counts may differ by a stray instruction or two
    # per iteration, never by a meaningful share.
    assert abs(first - second) <= max(2.0, 0.01 * first), (first, second)
    assert runs[0]["empty"]["count_2n"] > runs[0]["empty"]["count_n"]


@pytest.mark.timeout(180)
def test_report_names_valgrind_and_the_interpreter(callgrind_run: dict[str, Any]) -> None:
    meta = callgrind_run["meta"]
    assert meta["valgrind"].startswith("valgrind")
    assert (
        meta["interpreters"]["this"]["python"].startswith("CPython")
        or meta["interpreters"]["this"]["python"]
    )
    text = callgrind_run["markdown"]
    assert meta["valgrind"] in text
    assert "| execute |" in text  # every hot path has its row, "n/a" when not counted
    loop = round(callgrind_run["results"]["this"][0]["empty"]["per_op"])
    assert f"less the loop's own {loop:,} instructions" in text
