"""``gqlwire query`` and ``gqlwire subscribe``, run as a user would: a subprocess.

One JSON result per line on stdout; exit 0 at the end; exit 1 with exactly one line on
stderr on errors; SIGINT (Ctrl-C) or SIGTERM mid-subscription ends cleanly (130 / 143,
nothing on stderr) and the server sees the subscription end.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

import pytest

from tests.harness.control import fetch_events, wait_for_events
from tests.harness.protocols import PROTOCOLS
from tests.harness.servers import LogWatch, ServerProcess, free_port, server_environment

from .support import WAIT, publish_until_delivered

pytestmark = pytest.mark.timeout(60)


async def gqlwire(*args: str) -> tuple[int, list[Any], str]:
    """Run ``python -m gqlwire *args``: (exit status, stdout lines as JSON, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gqlwire",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=server_environment(),
    )
    try:
        async with asyncio.timeout(30):
            stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    lines = [json.loads(line) for line in stdout.decode().splitlines()]
    return process.returncode or 0, lines, stderr.decode()


def url_of(app_server: ServerProcess, token: str) -> str:
    return app_server.ws_url(query=f"token={token}")


async def test_query_prints_one_json_line(app_server: ServerProcess, token: str) -> None:
    status, lines, stderr = await gqlwire("query", url_of(app_server, token), "{ hello }")
    assert (status, lines, stderr) == (0, [{"data": {"hello": "Hello, world!"}}], "")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_subscribe_prints_every_result(
    app_server: ServerProcess, token: str, protocol: str
) -> None:
    status, lines, stderr = await gqlwire(
        "subscribe",
        url_of(app_server, token),
        "subscription Count($to: Int!) { count(to: $to) }",
        "--variables",
        '{"to": 3}',
        "--operation-name",
        "Count",
        "--protocol",
        protocol,
    )
    assert (status, stderr) == (0, "")
    assert lines == [{"data": {"count": n}} for n in (1, 2, 3)]
    events = await wait_for_events(app_server, token, "connect")
    assert events[0]["protocol"] == protocol


async def test_headers_and_connection_params_reach_the_server(
    app_server: ServerProcess, token: str
) -> None:
    status, _, stderr = await gqlwire(
        "query",
        url_of(app_server, token),
        "{ hello }",
        "--header",
        "X-Test: from the CLI",
        "--connection-params",
        '{"user": "ada"}',
    )
    assert (status, stderr) == (0, "")
    (connect, *_) = await wait_for_events(app_server, token, "connect")
    assert connect["params"] == {"user": "ada"}
    assert connect["x_test"] == "from the CLI"


async def test_a_result_with_errors_is_printed_with_status_0(
    app_server: ServerProcess, token: str, log_watch: LogWatch
) -> None:
    log_watch.allow(r"RuntimeError: Query Kaboom!$")  # the resolver's exception, logged
    status, lines, stderr = await gqlwire("query", url_of(app_server, token), "{ throwing }")
    assert (status, stderr) == (0, "")
    assert lines[0]["errors"][0]["message"] == "Query Kaboom!"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{ nope }"], "Cannot query field 'nope' on type 'Query'."),
        (["subscription { boom }"], "Boom!"),
        (["{ hello }", "--variables", "[1"], "--variables is not valid JSON"),
        (["{ hello }", "--connection-params", "[1]"], "--connection-params must be a JSON object"),
        (["{ hello }", "--header", "no colon"], "--header expects NAME:VALUE"),
        (["{ hello }", "--connection-params", '{"reject": true}'], "4403 Forbidden"),
    ],
    ids=["validation", "error-message", "variables", "params", "header", "refused"],
)
async def test_errors_exit_1_with_one_line(
    app_server: ServerProcess, token: str, args: list[str], message: str, log_watch: LogWatch
) -> None:
    if message == "Boom!":
        log_watch.allow(r"RuntimeError: Boom!$")  # the source's exception, logged by the server
    command = "subscribe" if args[0].startswith("subscription") else "query"
    status, _, stderr = await gqlwire(command, url_of(app_server, token), *args)
    assert status == 1
    assert stderr.count("\n") == 1 and stderr.startswith("gqlwire: error: "), stderr
    assert message in stderr


async def test_an_unreachable_server_exits_1_at_once() -> None:
    url = f"ws://127.0.0.1:{free_port()}/graphql"
    status, lines, stderr = await gqlwire("query", url, "{ hello }", "--retry-attempts", "3")
    assert (status, lines) == (1, [])
    assert stderr.startswith(f"gqlwire: error: cannot connect to {url}") and stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"]
)
async def test_a_signal_mid_subscription_ends_it_cleanly(
    app_server: ServerProcess, token: str, signum: signal.Signals, status: int
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gqlwire",
        "subscribe",
        url_of(app_server, token),
        "subscription { channel }",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=server_environment(),
    )
    try:
        assert process.stdout is not None
        await publish_until_delivered(app_server, token, "first")
        async with asyncio.timeout(WAIT):
            line = await process.stdout.readline()
        assert json.loads(line) == {"data": {"channel": "first"}}
        process.send_signal(signum)
        async with asyncio.timeout(WAIT):
            stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == status
    assert stderr.decode() == ""
    assert stdout == b""
    events = await wait_for_events(app_server, token, "source_finally", "close")
    assert [e["code"] for e in events if e["event"] == "close"] == [1000]
    assert "complete" in [e["event"] for e in await fetch_events(app_server, token)]
