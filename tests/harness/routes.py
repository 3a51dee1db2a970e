"""One route table, served by every server: the test apps as ASGI and as aiohttp apps.

A test app is a table of paths: GraphQL endpoints (a ``GraphQLServer`` each, WebSocket
and HTTP on the same path) and plain-HTTP control endpoints (``/_events`` and the like,
through which a test sees inside the server process), each written once as a small ASGI
callable::

    routes = Routes({"/graphql": GraphQLServer(schema)}, http={"/_events": events})
    app = routes.asgi()              # for uvicorn, hypercorn, daphne, granian
    aiohttp_app = routes.aiohttp()   # for aiohttp, which runs no ASGI apps

An app module exposes both; :mod:`tests.harness.servers` serves ``aiohttp_app`` where a
test names ``app`` and the server is aiohttp. Both serve the same paths the same way,
except what each server does by itself: a WebSocket handshake on an unknown path is
refused with HTTP 403 on ASGI and 404 on aiohttp. On shutdown, both close every
endpoint's open WebSockets with 1001 "Going away".

Hooks that read the handshake use :func:`asgi_scope` (``ctx.extra`` holds the ASGI scope
on ASGI servers and the aiohttp request on aiohttp), or :func:`with_asgi_scope` for hooks
written against ``ctx.extra["scope"]``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

from aiohttp import web

from gqlwire import GraphQLServer
from gqlwire.asgi_types import ASGIApplication, Message, Receive, Scope, Send


class _HasExtra(Protocol):
    extra: dict[str, Any]


_Context = TypeVar("_Context", bound=_HasExtra)


@dataclass
class Routes:
    """GraphQL endpoints and plain-HTTP control endpoints, by exact path."""

    graphql: Mapping[str, GraphQLServer]
    http: Mapping[str, ASGIApplication] = field(default_factory=dict)

    def asgi(self) -> ASGIApplication:
        return _ASGIRoutes(self)

    def aiohttp(self) -> web.Application:
        app = web.Application()
        for path, server in self.graphql.items():
            app.router.add_route("*", path, server.aiohttp())
        for path, endpoint in self.http.items():
            app.router.add_route("*", path, _aiohttp_handler(endpoint))

        async def close_connections(_app: web.Application) -> None:
            await self.close_all()

        app.on_shutdown.append(close_connections)
        return app

    async def close_all(self) -> None:
        await asyncio.gather(*(server.close_all() for server in self.graphql.values()))


class _ASGIRoutes:
    def __init__(self, routes: Routes) -> None:
        self.routes = routes
        self.apps = {path: server.asgi() for path, server in routes.graphql.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        path = scope["path"]
        endpoint = self.routes.http.get(path) if kind == "http" else None
        app = endpoint or self.apps.get(path)
        if app is not None:
            await app(scope, receive, send)
        elif kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1000})  # before accept: HTTP 403
        else:
            await respond(send, 404, b"")

    async def close_all(self) -> None:
        """What ``gqlwire serve`` calls on a stop signal (see ``ASGIApp.close_all``)."""
        await self.routes.close_all()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await self.routes.close_all()
                await send({"type": "lifespan.shutdown.complete"})
                return
            await send({"type": "lifespan.startup.complete"})


async def respond(
    send: Send, status: int, body: bytes, content_type: bytes = b"application/json"
) -> None:
    """A complete ASGI HTTP response."""
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _aiohttp_handler(endpoint: ASGIApplication) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp handler running the ASGI HTTP `endpoint` for one buffered request."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        delivered = False

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        status = 500
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", ()):
                    headers.append((bytes(name).decode("latin-1"), bytes(value).decode("latin-1")))
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        await endpoint(_http_scope(request), receive, send)
        response = web.Response(status=status, body=b"".join(chunks))
        for name, value in headers:
            if name.lower() != "content-length":  # aiohttp sets it from the body
                response.headers[name] = value
        return response

    return handle


def _http_scope(request: web.BaseRequest, kind: str = "http") -> Scope:
    return {
        "type": kind,
        "asgi": {"version": "3.0"},
        "http_version": f"{request.version.major}.{request.version.minor}",
        "method": request.method,
        "scheme": "http",
        "path": request.path,
        "raw_path": request.raw_path.encode("latin-1"),
        "query_string": request.rel_url.raw_query_string.encode("latin-1"),
        "headers": [(name.lower(), value) for name, value in request.raw_headers],
    }


def asgi_scope(extra: Mapping[str, Any]) -> Mapping[str, Any]:
    """The handshake or request a hook's ``ctx.extra`` (or an ``HTTPRequest.extra``)
    describes, as an ASGI scope: the scope itself on ASGI servers, an ASGI-shaped view
    of the aiohttp request (type, path, query string, headers) on aiohttp."""
    scope = extra.get("scope")
    if scope is not None:
        return scope  # type: ignore[no-any-return]
    request = extra.get("request")
    if not isinstance(request, web.BaseRequest):
        return {}
    upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
    return _http_scope(request, "websocket" if upgrade else "http")


def with_asgi_scope(ctx: _Context) -> _Context:
    """``ctx`` itself if its ``extra`` holds an ASGI scope; otherwise a view of it whose
    ``extra`` also has ``"scope"``: :func:`asgi_scope` of the aiohttp request. For hooks
    written against ASGI's ``ctx.extra["scope"]``."""
    if "scope" in ctx.extra:
        return ctx
    return cast(_Context, _ScopedContext(ctx, {**ctx.extra, "scope": asgi_scope(ctx.extra)}))


class _ScopedContext:
    """A connection context with another ``extra``; everything else is the original's."""

    def __init__(self, ctx: Any, extra: dict[str, Any]) -> None:
        self._ctx = ctx
        self.extra = extra

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)
