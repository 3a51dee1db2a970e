"""The broker benchmark's quick mode (``python -m benchmarks.broker_fanout --quick``):
every broker behind one worker and two, and alone, a few subscribers, end to end, against
the machine's Redis (``REDIS_URL``) and NATS with JetStream (``NATS_URL``).

Durations are never asserted; what is checked is that every row of both scenarios ran,
that every subscriber got every event once and in order (the counts add up), that every
subscriber's connection was answered by one of its row's workers, and that the JSON and
Markdown outputs are well formed. One run, one server kind (aiohttp): a slow
scenario, not a matrix.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import gqlwire.fanout
from tests.harness.redis_server import in_ci, redis_url_or_skip

nats = pytest.importorskip("nats", reason="the nats extra is not installed (pip install nats-py)")

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
NATS_HINT = "start one with: nats-server -js -a 127.0.0.1 -p 4222"
ROWS = [
    "memory/1w",
    "pubsub/1w",
    "streams/1w",
    "jetstream/1w",
    "pubsub/2w",
    "streams/2w",
    "jetstream/2w",
    "pubsub/raw",
    "streams/raw",
    "jetstream/raw",
]
SCENARIOS = ("throughput", "latency")


def brokers_and_workers_or_skip() -> None:
    """The benchmark measures RedisStreamBroker, NatsBroker and ``serve --workers``."""
    for name in ("RedisStreamBroker", "NatsBroker"):
        try:
            getattr(gqlwire.fanout, name)
        except (AttributeError, ImportError) as missing:
            pytest.skip(f"{name} is not available: {missing}")
    if importlib.util.find_spec("gqlwire.workers") is None:
        pytest.skip("this gqlwire has no serve --workers")


def nats_url_or_skip() -> str:
    """``NATS_URL`` if a NATS with JetStream answers there; else skip (fail under CI=true)."""
    url = os.environ.get("NATS_URL", DEFAULT_NATS_URL)

    async def probe() -> None:
        connection = await nats.connect(
            url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False
        )
        try:
            await connection.jetstream().account_info()
        finally:
            await connection.close()

    try:
        asyncio.run(asyncio.wait_for(probe(), 5))
    except Exception as error:  # any failure to reach it means: no NATS here
        message = f"no NATS with JetStream answers at NATS_URL={url} ({error!r}); {NATS_HINT}"
        if in_ci():
            pytest.fail(f"CI=true requires a NATS server: {message}", pytrace=False)
        pytest.skip(message)
    return url


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    brokers_and_workers_or_skip()
    env = dict(os.environ, REDIS_URL=redis_url_or_skip(), NATS_URL=nats_url_or_skip())
    out = tmp_path_factory.mktemp("broker-bench")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.broker_fanout", "--quick", "--out", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        timeout=170,
    )
    assert done.returncode == 0, (
        done.stdout.decode(errors="replace")[-3000:] + done.stderr.decode(errors="replace")[-3000:]
    )
    return out


@pytest.fixture(scope="module")
def report(quick_run: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((quick_run / "broker_fanout.json").read_text())
    return data


@pytest.mark.timeout(180)
def test_every_row_of_every_scenario_ran(report: dict[str, Any]) -> None:
    assert report["rows"] == ROWS
    measured = {key for key in report["results"] if not key.startswith("log/")}
    assert measured == {f"{scenario}/{row}" for scenario in SCENARIOS for row in ROWS}
    assert report["meta"]["size"]["mode"] == "quick"


@pytest.mark.timeout(180)
def test_every_subscriber_got_every_event_once(report: dict[str, Any]) -> None:
    size = report["meta"]["size"]
    for scenario in SCENARIOS:
        events = size[f"{scenario}_events"]
        for row in ROWS:
            result = report["results"][f"{scenario}/{row}"]
            assert "error" not in result, (scenario, row, result)
            assert result["ok"] is True, (scenario, row, result)
            subscribers = size["raw_subscribers"] if result["raw"] else size["subscribers"]
            assert result["expected_total"] == subscribers * events * size["rounds"]
            assert result["delivered_total"] == result["expected_total"]
            for key in ("lost", "extra", "out_of_order", "gaps", "wrong_start"):
                assert result[f"{key}_total"] == 0, (scenario, row, key)


@pytest.mark.timeout(180)
def test_measurements_are_present(report: dict[str, Any]) -> None:
    size = report["meta"]["size"]
    for row in ROWS:
        throughput = report["results"][f"throughput/{row}"]
        assert throughput["delivered_per_s"] > 0
        assert throughput["publish_per_s"] > 0
        latency = report["results"][f"latency/{row}"]
        assert 0 < latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"]
        subscribers = size["raw_subscribers"] if latency["raw"] else size["subscribers"]
        assert latency["samples"] == subscribers * size["latency_events"]
        if not latency["raw"]:
            # every subscriber's connection was answered by one of the row's workers
            spread = latency["subscribers_per_worker"]
            assert "unknown" not in spread
            assert sum(spread.values()) == size["subscribers"]
            assert len(spread) <= latency["workers"]


@pytest.mark.timeout(180)
def test_servers_logged_no_error(report: dict[str, Any]) -> None:
    logs = {key: value for key, value in report["results"].items() if key.startswith("log/")}
    assert set(logs) == {f"log/{row}" for row in ROWS if not row.endswith("/raw")}
    for problems in logs.values():
        assert problems["tracebacks"] == 0, problems
        assert problems["error_lines"] == 0, problems


@pytest.mark.timeout(180)
def test_markdown_has_every_row_twice(quick_run: Path, report: dict[str, Any]) -> None:
    text = (quick_run / "broker_fanout.md").read_text()
    assert text.startswith("# Brokers between processes")
    assert "## Throughput" in text and "## Latency" in text
    assert f"graphql-core {report['meta']['graphql_core']}" in text
    for name in ("MemoryBroker", "RedisBroker", "RedisStreamBroker", "NatsBroker"):
        assert name in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and " ok |" in line]
    assert len(rows) == 2 * len(ROWS), rows
