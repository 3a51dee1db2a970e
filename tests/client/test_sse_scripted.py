"""``HTTPClient`` against an event stream each test writes, for what the reference server
does not do on demand: ``id:`` lines (graphql-sse sends none), a stream cut at a chosen
point, broken events; and the same over TLS.

The server is aiohttp in the test's own event loop; ``handler`` answers every POST.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gqlwire.client import BadResponse, ConnectionFailed, ConnectionLost, HTTPClient

from .leaks import settle
from .support import fast_retry

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class StreamServer:
    def __init__(self) -> None:
        self.handler: Handler | None = None
        self.requests: list[dict[str, Any]] = []  # headers and body of each
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append({"headers": dict(request.headers), "body": await request.json()})
        assert self.handler is not None
        return await self.handler(request)


@contextlib.asynccontextmanager
async def stream_server(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[StreamServer]:
    server = StreamServer()
    app = web.Application()
    app.router.add_post("/graphql", server.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}/graphql"
    try:
        yield server
    finally:
        await runner.cleanup()


async def open_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    return response


def next_event(value: int, id: str | None = None) -> bytes:
    head = f"id: {id}\n" if id is not None else ""
    return f'{head}event: next\ndata: {{"data": {{"n": {value}}}}}\n\n'.encode()


async def test_the_last_event_id_is_sent_when_the_stream_is_opened_again() -> None:
    async def cut_after_two_ids(request: web.Request) -> web.StreamResponse:
        response = await open_stream(request)
        if len(server.requests) == 1:
            await response.write(next_event(1, id="a1") + b": keep-alive\n\n")
            await response.write(next_event(2, id="a2") + next_event(3))  # the id stays
            assert request.transport is not None
            request.transport.abort()  # cut, no complete
        else:
            await response.write(next_event(4, id="b1") + b"event: complete\ndata:\n\n")
        return response

    async with stream_server() as server:
        server.handler = cut_after_two_ids
        async with HTTPClient(server.url, retry_wait=fast_retry, retry_attempts=1) as client:
            results = [r async for r in client.subscribe("subscription { n }")]
    assert results == [{"data": {"n": n}} for n in (1, 2, 3, 4)]
    first, second = server.requests
    assert "Last-Event-ID" not in first["headers"]
    assert second["headers"]["Last-Event-ID"] == "a2"
    assert first["body"] == second["body"] == {"query": "subscription { n }"}
    assert first["headers"]["Accept"] == "text/event-stream"


async def test_a_stream_that_ends_without_complete_is_a_lost_connection() -> None:
    async def end_quietly(request: web.Request) -> web.StreamResponse:
        response = await open_stream(request)
        await response.write(next_event(1))
        return response  # the body ends: no complete

    async with stream_server() as server:
        server.handler = end_quietly
        async with HTTPClient(server.url, retry_attempts=0) as client:
            received = []
            with pytest.raises(ConnectionLost, match="ended before complete"):
                async for result in client.subscribe("subscription { n }"):
                    received.append(result)
    assert received == [{"data": {"n": 1}}]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"event: next\ndata: {not json\n\n", "a next event holds no JSON"),
        (b"event: next\ndata: [1]\n\n", "is not a JSON object"),
        (b'event: next\ndata: {"errors": "no"}\n\n', "has neither data nor a list of errors"),
        (b"data: " + b"x" * 2000, "larger than 1000 characters"),
    ],
)
async def test_broken_events(body: bytes, problem: str) -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        response = await open_stream(request)
        await response.write(body)
        return response

    async with stream_server() as server:
        server.handler = broken
        async with HTTPClient(server.url, max_response_size=1000) as client:
            with pytest.raises(BadResponse, match=problem):
                async for _ in client.subscribe("subscription { n }"):
                    pass  # pragma: no cover
            # the query path has the same bound
            server.handler = lambda request: _json_body(b'{"data": "' + b"x" * 2000 + b'"}')
            with pytest.raises(BadResponse, match="larger than 1000 bytes"):
                await client.execute("{ n }")
    await settle()


async def _json_body(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")


# -- TLS -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made by the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", str(key), "-out", str(cert),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
    except FileNotFoundError:
        pytest.skip("the openssl command is not installed")
    return cert, key


async def test_https(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def stream(request: web.Request) -> web.StreamResponse:
        if request.headers["Accept"] != "text/event-stream":
            return web.json_response({"data": {"n": 0}})
        response = await open_stream(request)
        await response.write(next_event(1) + b"event: complete\ndata:\n\n")
        return response

    async with stream_server(serving) as server:
        server.handler = stream
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trusting)) as session:
            async with HTTPClient(server.url, session=session) as client:
                assert await client.execute("{ n }") == {"data": {"n": 0}}
                assert [r async for r in client.subscribe("subscription { n }")] == [
                    {"data": {"n": 1}}
                ]
            assert not session.closed  # the caller's session is the caller's to close
        # The certificate is checked by default, as for wss://.
        async with HTTPClient(server.url, retry_attempts=0) as client:
            with pytest.raises(ConnectionFailed, match="certificate verify failed"):
                await client.execute("{ n }")
    await settle()


async def test_a_silent_stream_counts_as_dropped_after_idle_timeout() -> None:
    done = asyncio.Event()

    async def silent_after_one(request: web.Request) -> web.StreamResponse:
        response = await open_stream(request)
        await response.write(next_event(len(server.requests)) + b":\n\n")
        await done.wait()  # open and silent until the test ends
        return response

    async with stream_server() as server:
        server.handler = silent_after_one
        options: dict[str, Any] = {"idle_timeout": 0.2, "retry_wait": fast_retry}
        async with HTTPClient(server.url, retry_attempts=1, **options) as client:
            received = []
            with pytest.raises(ConnectionLost, match=r"sent nothing for 0\.2 s"):
                async for result in client.subscribe("subscription { n }"):
                    received.append(result)
        done.set()
    assert received == [{"data": {"n": 1}}, {"data": {"n": 2}}]  # opened once more
    await settle()
