"""``gqlwire query URL -`` and ``gqlwire subscribe URL -`` read the document from standard
input; a URL the client cannot use is refused before anything is sent. Run as a user would:
a subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.harness.servers import ServerProcess, server_environment

pytestmark = pytest.mark.timeout(60)


def gqlwire(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gqlwire", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env=server_environment(),
    )


def test_query_reads_the_document_from_standard_input(
    app_server: ServerProcess, token: str
) -> None:
    url = app_server.ws_url(query=f"token={token}")
    result = gqlwire("query", url, "-", stdin="query {\n  hello\n}\n")
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        '{"data": {"hello": "Hello, world!"}}\n',
        "",
    )


def test_subscribe_reads_the_document_from_standard_input(
    app_server: ServerProcess, token: str
) -> None:
    url = app_server.ws_url(query=f"token={token}")
    document = "subscription($to: Int!) {\n  count(to: $to)\n}\n"
    result = gqlwire("subscribe", url, "-", "--variables", '{"to": 2}', stdin=document)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == ['{"data": {"count": 1}}', '{"data": {"count": 2}}']


def test_an_empty_standard_input_is_one_error_line() -> None:
    result = gqlwire("query", "ws://127.0.0.1:1/graphql", "-", stdin=" \n")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "gqlwire: error: QUERY is -, but standard input holds no GraphQL document\n"
    )


@pytest.mark.parametrize("command", ["query", "subscribe"])
def test_a_url_that_is_not_ws_is_one_error_line(command: str) -> None:
    result = gqlwire(command, "http://127.0.0.1:1/graphql", "{ hello }")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "gqlwire: error: Client URL 'http://127.0.0.1:1/graphql' is HTTP (http://): the client "
        "speaks GraphQL over WebSocket; expected ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH "
        "(over HTTP: --transport http or sse)\n"
    )
