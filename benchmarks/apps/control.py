"""The HTTP control endpoints of every benchmark server, for ASGI and for aiohttp.

POST /_publish?channel=C&count=N&rate=R   start publishing; {"first": seq, "count": N}
GET  /_stats[?gc=1]                       CPU seconds, RSS, running subscriptions
POST /_profile?action=start|stop&path=P   cProfile of the event loop thread
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson

from ..feed import Control

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONTROL_PREFIX = "/_"


def handle(control: Control, path: str, query: dict[str, str]) -> tuple[int, Any]:
    """The status and JSON body of one control request."""
    if path == "/_publish":
        channel = query.get("channel", "default")
        count = int(query.get("count", "1"))
        rate = float(query.get("rate", "0"))
        return 200, control.publish(channel, count, rate)
    if path == "/_stats":
        return 200, control.stats(collect=query.get("gc") == "1")
    if path == "/_profile":
        return 200, control.profile(query.get("action", "stop"), query.get("path", "server.prof"))
    return 404, {"error": f"no control endpoint {path}"}


def _single_values(query_string: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(query_string).items()}


def with_control(app: ASGIApp, control: Control, *, app_handles_lifespan: bool) -> ASGIApp:
    """``app`` with the control endpoints in front of it (and lifespan answered here
    when the app does not handle it)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" and str(scope["path"]).startswith(CONTROL_PREFIX):
            while (await receive()).get("more_body"):
                pass
            query = _single_values(bytes(scope.get("query_string") or b"").decode("latin-1"))
            status, body = handle(control, str(scope["path"]), query)
            data = orjson.dumps(body)
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(data)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": data})
            return
        if kind == "lifespan" and not app_handles_lifespan:
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await app(scope, receive, send)

    return wrapped


def add_control_routes(app: Any, control: Control) -> None:
    """The control endpoints on an ``aiohttp.web.Application``."""
    from aiohttp import web

    async def endpoint(request: web.Request) -> web.Response:
        query = {key: request.query.getall(key)[-1] for key in request.query}
        status, body = handle(control, request.path, query)
        return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")

    for path in ("/_publish", "/_stats", "/_profile"):
        app.router.add_route("*", path, endpoint)
