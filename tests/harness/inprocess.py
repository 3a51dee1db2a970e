"""A GraphQLServer served in the test's own event loop, by aiohttp or uvicorn, on a free
loopback port: for tests that read the server object while real clients use it.

    async with serve_in_process(graphql_server, "uvicorn") as base:
        ...  # base is "http://127.0.0.1:<port>"; the endpoint is base + "/graphql"

aiohttp serves ``aiohttp_app("/graphql")`` (only its routes answer); uvicorn serves
``asgi()`` at the root, which answers every path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from gqlwire import GraphQLServer

IN_PROCESS_SERVERS = ("aiohttp", "uvicorn")


@contextlib.asynccontextmanager
async def serve_in_process(server: GraphQLServer, name: str) -> AsyncIterator[str]:
    if name == "aiohttp":
        async with _aiohttp(server) as base:
            yield base
    elif name == "uvicorn":
        async with _uvicorn(server) as base:
            yield base
    else:
        raise ValueError(f"no in-process runner for {name!r}")


@contextlib.asynccontextmanager
async def _aiohttp(server: GraphQLServer) -> AsyncIterator[str]:
    runner = web.AppRunner(server.aiohttp_app("/graphql"), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def _uvicorn(server: GraphQLServer) -> AsyncIterator[str]:
    import uvicorn

    config = uvicorn.Config(
        server.asgi(),
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    runner = uvicorn.Server(config)
    task = asyncio.create_task(runner.serve())
    try:
        async with asyncio.timeout(10):
            while not runner.started:
                if task.done():
                    task.result()  # its exception, if it failed to start
                await asyncio.sleep(0.01)
        port = runner.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.close_all()
        runner.should_exit = True
        async with asyncio.timeout(10):
            await task
