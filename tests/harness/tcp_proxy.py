"""A TCP proxy in the test's event loop that can drop every connection on demand.

What a network fault does to a client: its connections are reset mid-stream (whatever
was in flight is lost, as a server killed or a proxy restarted would lose it), and new
connections fail while the fault lasts. The server behind it keeps running, so the test
can go on publishing meanwhile. Works for any protocol over TCP (WebSocket, SSE).

    async with TCPProxy(server.host, server.port) as proxy:
        client = Client(f"ws://127.0.0.1:{proxy.port}/graphql")
        ...
        proxy.cut(refuse=True)   # reset every connection, refuse new ones
        ...
        proxy.restore()          # accept again
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

_CHUNK = 65536


class TCPProxy:
    """Forwards 127.0.0.1:``port`` to ``upstream_host``:``upstream_port``."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.accepted = 0
        """Connections accepted and forwarded so far (refused ones not counted)."""
        self._server: asyncio.Server | None = None
        self._refusing = False
        self._transports: set[asyncio.WriteTransport] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> TCPProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        await self._server.wait_closed()

    def cut(self, *, refuse: bool = False) -> None:
        """Reset every open connection (both sides); with `refuse`, reset new ones as
        soon as they are accepted until :meth:`restore`."""
        self._refusing = self._refusing or refuse
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    def restore(self) -> None:
        self._refusing = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        self._transports.update({writer.transport, up_writer.transport})
        for source, target in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.get_running_loop().create_task(self._pipe(source, target))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(_CHUNK):
                target.write(data)
                await target.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # One side ended: end the other too (a half-open pair would hang).
            self._transports.discard(target.transport)
            with contextlib.suppress(Exception):
                target.transport.abort()
