"""GraphQL over HTTP is guarded like the WebSocket (on every server for what servers change).

- The body is read to its end however the client's TCP writes split it, and refused
  with 413 only when it is longer than ``max_message_size``; a client that leaves
  before its body ends costs no traceback in the server's log.
- ``allowed_origins`` refuses a browser request from another origin with 403, as it
  refuses the handshake.
- Cross-site request forgery: a request another site's page could make a visitor's
  browser send without a CORS preflight never runs (a GET that a browser marks as sent
  by another site, without a preflight header: 400; a POST that is not
  ``application/json``: 415), before anything of the application runs; the resolver
  with a side effect counts how often it ran. A GET no other site sent runs.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.harness.servers import ServerPool, ServerProcess, assert_clean_log

# Reading a body, its limit, a client leaving mid-body and the origin check depend on
# what each server hands over, so they run on every server; which cross-site requests
# may run is decided by gqlwire from the request's method and headers alone, so those
# cases run on one server per adapter (tests/conftest.py).
pytestmark = pytest.mark.per_adapter

TARGET = "tests.apps.security_app:app"
LIMIT = 1024 * 1024  # max_message_size's default


@pytest.fixture(scope="module")
def proc(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(TARGET, server_name)


async def effects(proc: ServerProcess) -> int:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(proc.http_url("/_stats"))
    count: int = response.json()["effects"]
    return count


async def raw_post(proc: ServerProcess, body: bytes, parts: int) -> tuple[int, Any]:
    """POST ``body`` as JSON in ``parts`` TCP writes, each sent before the next is
    written; the status and the JSON of the response."""
    reader, writer = await asyncio.open_connection(proc.host, proc.port)
    try:
        head = (
            f"POST /graphql HTTP/1.1\r\nHost: {proc.host}:{proc.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        writer.write(head)
        step = -(-len(body) // parts)
        for start in range(0, len(body), step):
            writer.write(body[start : start + step])
            await writer.drain()
        response = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    status_line, _, rest = response.partition(b"\r\n")
    _, _, content = rest.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in rest.lower().partition(b"\r\n\r\n")[0]:
        content = _unchunk(content)
    return int(status_line.split()[1]), json.loads(content)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


def padded(size: int) -> bytes:
    """A JSON request of exactly ``size`` bytes (padding in ``extensions``)."""
    bare = json.dumps({"query": "{ big(size: 2) }", "extensions": {"pad": ""}}).encode()
    body = json.dumps(
        {"query": "{ big(size: 2) }", "extensions": {"pad": "p" * (size - len(bare))}}
    )
    assert len(body) == size
    return body.encode()


# -- the body ---------------------------------------------------------------------------


@pytest.mark.every_server
@pytest.mark.parametrize(
    ("size", "parts"), [(1990, 2), (600 * 1024, 1), (LIMIT - 10, 1), (LIMIT, 7)]
)
async def test_a_body_up_to_the_limit_is_read_whole(
    proc: ServerProcess, size: int, parts: int
) -> None:
    since = proc.log_offset()
    assert await raw_post(proc, padded(size), parts) == (200, {"data": {"big": "xx"}})
    assert_clean_log(proc, since=since)


@pytest.mark.every_server
@pytest.mark.parametrize("parts", [1, 3])
async def test_a_body_over_the_limit_gets_413(proc: ServerProcess, parts: int) -> None:
    since = proc.log_offset()
    status, body = await raw_post(proc, padded(LIMIT + 1), parts)
    assert (status, body) == (413, {"errors": [{"message": "Request body too large"}]})
    assert_clean_log(proc, since=since)


@pytest.mark.every_server
async def test_a_declared_length_over_the_limit_is_refused_before_the_body(
    proc: ServerProcess,
) -> None:
    """Only the head is sent: the answer cannot wait for a body that never comes.
    aiohttp only: an ASGI server drops the connection if the application answers while
    the client still sends, so there the body is read up to the limit first."""
    if proc.server != "aiohttp":
        pytest.skip("ASGI applications read the body up to the limit before refusing it")
    since = proc.log_offset()
    reader, writer = await asyncio.open_connection(proc.host, proc.port)
    try:
        writer.write(
            (
                f"POST /graphql HTTP/1.1\r\nHost: {proc.host}:{proc.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {LIMIT + 1}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()
    assert head.split()[1] == b"413", head
    assert_clean_log(proc, since=since)


@pytest.mark.every_server
@pytest.mark.parametrize("how", ["close", "reset"])
async def test_a_client_leaving_mid_body_is_not_a_server_error(
    proc: ServerProcess, how: str
) -> None:
    since = proc.log_offset()
    body = padded(64 * 1024)
    for _ in range(3):
        _reader, writer = await asyncio.open_connection(proc.host, proc.port)
        writer.write(
            (
                f"POST /graphql HTTP/1.1\r\nHost: {proc.host}:{proc.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body[: len(body) // 2]
        )
        await writer.drain()
        await asyncio.sleep(0.2)  # the server is reading the body when the client leaves
        if how == "reset":
            writer.transport.abort()
        else:
            writer.close()
        await asyncio.sleep(0.2)
    # Still serving, and nothing logged as an error.
    assert await raw_post(proc, padded(1990), 1) == (200, {"data": {"big": "xx"}})
    assert_clean_log(proc, since=since)


# -- origins ------------------------------------------------------------------------------


@pytest.mark.every_server
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_allowed_origins_refuse_other_origins_over_http(
    proc: ServerProcess, method: str
) -> None:
    before = await effects(proc)
    headers = {"content-type": "application/json", "graphql-preflight": "1"}
    async with httpx.AsyncClient(timeout=10) as client:

        async def request(origin: str | None) -> httpx.Response:
            sent = {**headers, **({"origin": origin} if origin else {})}
            if method == "GET":
                return await client.get(
                    proc.http_url("/origins"), params={"query": "{ effect }"}, headers=sent
                )
            return await client.post(
                proc.http_url("/origins"), json={"query": "{ effect }"}, headers=sent
            )

        refused = await request("https://evil.example")
        assert refused.status_code == 403
        assert refused.json() == {"errors": [{"message": "Origin not allowed"}]}
        assert await effects(proc) == before  # nothing ran
        assert (await request("https://app.example")).status_code == 200
        assert (await request(None)).status_code == 200  # not a browser
    assert await effects(proc) == before + 2


# -- cross-site request forgery ------------------------------------------------------------


CROSS_SITE = {
    "fetch-metadata": {"sec-fetch-site": "cross-site", "origin": "https://evil.example"},
    "same-site": {"sec-fetch-site": "same-site"},
    "origin-only": {"origin": "https://evil.example"},
    "opaque-origin": {"origin": "null"},
}
"""How a browser marks a request that a page of another origin made."""


@pytest.mark.parametrize("browser", sorted(CROSS_SITE))
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"content-type": "text/plain"},
        {"content-type": "application/x-www-form-urlencoded"},
        {"content-type": "multipart/form-data; boundary=x"},
        {"graphql-preflight": ""},
    ],
    ids=["no-header", "text-plain", "form", "multipart", "empty-preflight"],
)
async def test_a_get_another_site_could_send_does_not_run(
    proc: ServerProcess, headers: dict[str, str], browser: str
) -> None:
    since = proc.log_offset()
    before = await effects(proc)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            proc.http_url(),
            params={"query": "{ effect }"},
            headers={**headers, **CROSS_SITE[browser]},
        )
    assert response.status_code == 400
    assert "cross-site request forgery" in response.json()["errors"][0]["message"]
    assert await effects(proc) == before
    assert_clean_log(proc, since=since)


@pytest.mark.parametrize(
    "headers",
    [
        {"graphql-preflight": "1"},
        {"apollo-require-preflight": "true"},
        {"x-apollo-operation-name": "Effect"},
        {"content-type": "application/json"},
    ],
    ids=["graphql-preflight", "apollo-require-preflight", "x-apollo-operation-name", "json"],
)
async def test_a_cross_site_get_with_a_header_only_a_preflight_allows_runs(
    proc: ServerProcess, headers: dict[str, str]
) -> None:
    before = await effects(proc)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            proc.http_url(),
            params={"query": "{ effect }"},
            headers={**headers, **CROSS_SITE["fetch-metadata"]},
        )
    assert response.status_code == 200, response.text
    assert await effects(proc) == before + 1


async def test_a_get_that_no_other_site_sent_runs(proc: ServerProcess) -> None:
    """Not a browser (no Fetch Metadata, no Origin: curl, graphql-http's audit), the
    page's own origin, the address bar, and an origin ``allowed_origins`` names."""
    own_origin = f"http://{proc.host}:{proc.port}"
    cases: list[tuple[str, dict[str, str]]] = [
        ("/graphql", {}),
        ("/graphql", {"sec-fetch-site": "same-origin", "origin": own_origin}),
        ("/graphql", {"sec-fetch-site": "none"}),
        ("/graphql", {"origin": own_origin}),
        ("/origins", {"sec-fetch-site": "cross-site", "origin": "https://app.example"}),
    ]
    before = await effects(proc)
    async with httpx.AsyncClient(timeout=10) as client:
        for path, headers in cases:
            response = await client.get(
                proc.http_url(path), params={"query": "{ effect }"}, headers=headers
            )
            assert response.status_code == 200, (path, headers, response.text)
    assert await effects(proc) == before + len(cases)


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
async def test_a_post_a_form_could_send_does_not_run(
    proc: ServerProcess, content_type: str | None
) -> None:
    before = await effects(proc)
    headers = {"graphql-preflight": "1", **({"content-type": content_type} if content_type else {})}
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            proc.http_url(), content=b'{"query": "mutation { effect }"}', headers=headers
        )
    # daphne (Twisted) parses a multipart body itself and answers 400 to one that is not.
    refusal = 400 if proc.server == "daphne" and "multipart" in str(content_type) else 415
    assert response.status_code == refusal
    assert await effects(proc) == before
