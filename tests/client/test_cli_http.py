"""``gqlwire query|subscribe --transport http|sse``, run as a user would: a subprocess,
against gqlwire's own server (GraphQL over HTTP) and graphql-sse's handler (SSE); and the
README's examples of ``HTTPClient`` and of ``--transport sse``."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.commands import shell_environment
from tests.docs.readme import console, example
from tests.harness.control import fetch_events
from tests.harness.servers import ServerProcess, server_environment

from .node_servers import NODE_MODULES, NodeServer
from .support import WAIT
from .test_cli import gqlwire

pytestmark = pytest.mark.timeout(60)

needs_node = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_MODULES / "graphql-sse").is_dir(),
    reason="node or the npm packages are missing (npm ci)",
)


async def test_query_over_http(app_server: ServerProcess, token: str) -> None:
    url = app_server.http_url(query=f"token={token}")
    status, lines, stderr = await gqlwire(
        "query", url, "{ hello }", "--transport", "http", "--header", "X-Test: from the cli"
    )
    assert (status, lines, stderr) == (0, [{"data": {"hello": "Hello, world!"}}], "")
    connects = [e for e in await fetch_events(app_server, token) if e["event"] == "connect"]
    assert [e["x_test"] for e in connects] == ["from the cli"]
    status, lines, stderr = await gqlwire("query", url, "{ nope }", "--transport", "http")
    assert (status, lines) == (1, [])
    assert stderr == "gqlwire: error: Cannot query field 'nope' on type 'Query'.\n"


@needs_node
@pytest.mark.parametrize("command", ["query", "subscribe"])
async def test_over_sse(sse_server: NodeServer, command: str) -> None:
    count = "subscription($to: Int!) { count(to: $to) }"
    status, lines, stderr = await gqlwire(
        command, sse_server.http_url(), count, "--variables", '{"to": 3}', "--transport", "sse"
    )
    expected = [{"data": {"count": n}} for n in (1, 2, 3)]
    assert (status, lines, stderr) == (0, expected if command == "subscribe" else expected[:1], "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["subscribe", "http://127.0.0.1:1/graphql", "--transport", "http"], "use --transport sse"),
        (
            [
                "query",
                "http://127.0.0.1:1/graphql",
                "--transport",
                "sse",
                "--protocol",
                "graphql-ws",
            ],
            "--protocol applies to --transport ws only",
        ),
        (
            ["query", "http://127.0.0.1:1/graphql", "--transport", "http", "--retry-attempts", "2"],
            "--retry-attempts applies to --transport ws and sse",
        ),
        (["query", "ws://127.0.0.1:1/graphql", "--timeout", "3"], "--timeout applies to"),
        (
            ["query", "ws://127.0.0.1:1/graphql", "--transport", "http"],
            "is a WebSocket URL (ws://): HTTPClient speaks HTTP and SSE",
        ),
        (
            ["query", "http://127.0.0.1:1/graphql"],
            "speaks GraphQL over WebSocket; expected ws://HOST[:PORT]/PATH or "
            "wss://HOST[:PORT]/PATH (over HTTP: --transport http or sse)",
        ),
    ],
)
async def test_options_of_another_transport_are_one_error_line(
    args: list[str], message: str
) -> None:
    status, lines, stderr = await gqlwire(*args[:2], "{ hello }", *args[2:])
    assert (status, lines) == (1, [])
    assert stderr.startswith("gqlwire: error: ") and stderr.count("\n") == 1, stderr
    assert message in stderr


@needs_node
async def test_sigint_mid_sse_subscription_ends_the_stream(sse_server: NodeServer) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gqlwire", "subscribe", sse_server.http_url(),
        'subscription { forever(tag: "cli") }', "--transport", "sse",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=server_environment(),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        async with asyncio.timeout(WAIT):
            line = await process.stdout.readline()
        assert json.loads(line) == {"data": {"forever": 1}}
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(WAIT):
            _, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert (process.returncode, stderr.decode()) == (130, "")
    async with asyncio.timeout(WAIT):
        while not [e for e in sse_server.named("source_finally") if e["tag"] == "cli"]:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


# -- the README's examples of HTTP and SSE, against graphql-sse's handler -----------------------
# (gqlwire's own server answers GraphQL over HTTP, which test_readme_commands runs; its SSE
# is not there yet, so the SSE examples run against the reference server, whose schema has
# the example's `hello` and `countdown`.)

PRINTED_ADDRESS = "127.0.0.1:8000"


def _localized(text: str, server: NodeServer) -> str:
    assert PRINTED_ADDRESS in text
    return text.replace(PRINTED_ADDRESS, f"127.0.0.1:{server.port}")


@needs_node
def test_the_readme_sse_command(sse_server: NodeServer) -> None:
    for command in console("client-commands-sse"):
        result = subprocess.run(
            ["bash", "-c", _localized(command.command, sse_server)],
            capture_output=True,
            text=True,
            timeout=30,
            env=shell_environment(),
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert (result.returncode, result.stderr) == (0, ""), command
        assert result.stdout.splitlines() == command.output


@needs_node
def test_the_readme_http_client_program(sse_server: NodeServer, tmp_path: Path) -> None:
    program = tmp_path / "http_client.py"
    text = _localized(example("http-client"), sse_server).replace("/graphql", "/graphql?tag=readme")
    program.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(program)],
        capture_output=True,
        text=True,
        timeout=30,
        env=server_environment(),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "{'hello': 'Hello, Ada!'}",
        "{'countdown': 2}",
        "{'countdown': 1}",
        "{'countdown': 0}",
    ]
    requests = asyncio.run(sse_server.tagged("request", "readme", 2))
    assert [r["authorization"] for r in requests] == ["Bearer t0k3n"] * 2
