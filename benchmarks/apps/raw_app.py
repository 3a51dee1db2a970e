"""The raw ceiling: the same ``next`` frames (same bytes, each subscriber's own id) with
no GraphQL at all. The server answers ``connection_init`` and records ``subscribe``;
each event is serialized once and written to every subscriber by one publisher loop
that awaits each send, as a plain WebSocket broadcast would."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson

from ..feed import Control, Event
from .control import ASGIApp, Receive, Scope, Send, add_control_routes, with_control

SUBPROTOCOL = "graphql-transport-ws"
ACK = '{"type":"connection_ack"}'
PONG = '{"type":"pong"}'


def next_prefix(operation_id: Any) -> str:
    return '{"id":' + orjson.dumps(operation_id).decode() + ',"type":"next","payload":'


def payload_text(event: Event) -> str:
    return orjson.dumps({"data": {"tick": event}}).decode() + "}"


class Subscribers:
    """channel -> {(connection, operation id): (sender, frame prefix)}."""

    def __init__(self) -> None:
        self.by_channel: dict[str, dict[tuple[int, Any], tuple[Any, str]]] = {}

    def add(self, channel: str, key: tuple[int, Any], sender: Any, prefix: str) -> None:
        self.by_channel.setdefault(channel, {})[key] = (sender, prefix)

    def remove(self, key: tuple[int, Any]) -> None:
        for channel, members in list(self.by_channel.items()):
            members.pop(key, None)
            if not members:
                del self.by_channel[channel]

    def remove_connection(self, connection: int) -> None:
        for channel, members in list(self.by_channel.items()):
            for key in [key for key in members if key[0] == connection]:
                del members[key]
            if not members:
                del self.by_channel[channel]

    def members(self, channel: str) -> list[tuple[Any, str]]:
        return list(self.by_channel.get(channel, {}).values())

    def count(self) -> int:
        return sum(len(members) for members in self.by_channel.values())


def _handle_text(
    text: str | bytes, connection: int, sender: Any, subscribers: Subscribers
) -> str | None:
    """Record a subscription or answer a control message; returns the reply, if any."""
    message = orjson.loads(text)
    kind = message.get("type")
    if kind == "connection_init":
        return ACK
    if kind == "ping":
        return PONG
    if kind == "subscribe":
        operation_id = message["id"]
        channel = str(message["payload"]["variables"]["channel"])
        subscribers.add(channel, (connection, operation_id), sender, next_prefix(operation_id))
    elif kind == "complete":
        subscribers.remove((connection, message["id"]))
    return None


# -- aiohttp ---------------------------------------------------------------------------

aiohttp_subscribers = Subscribers()


async def _aiohttp_publish(channel: str, event: Event) -> None:
    from aiohttp import WSMsgType

    body = payload_text(event)
    for response, prefix in aiohttp_subscribers.members(channel):
        with contextlib.suppress(Exception):  # a closed subscriber: its handler removes it
            await response.send_frame((prefix + body).encode(), WSMsgType.TEXT)


aiohttp_control = Control(_aiohttp_publish, aiohttp_subscribers.count)


def make_aiohttp_app() -> Any:
    from aiohttp import WSMsgType, web

    async def websocket(request: web.Request) -> web.StreamResponse:
        response = web.WebSocketResponse(protocols=(SUBPROTOCOL,), compress=False)
        await response.prepare(request)
        connection = id(response)
        try:
            async for message in response:
                if message.type is not WSMsgType.TEXT:
                    continue
                reply = _handle_text(message.data, connection, response, aiohttp_subscribers)
                if reply is not None:
                    await response.send_str(reply)
        finally:
            aiohttp_subscribers.remove_connection(connection)
        return response

    app = web.Application()
    app.router.add_get("/graphql", websocket)
    add_control_routes(app, aiohttp_control)
    return app


# -- ASGI ------------------------------------------------------------------------------

asgi_subscribers = Subscribers()


async def _asgi_publish(channel: str, event: Event) -> None:
    body = payload_text(event)
    for send, prefix in asgi_subscribers.members(channel):
        with contextlib.suppress(Exception):  # a closed subscriber: its app call removes it
            await send({"type": "websocket.send", "text": prefix + body})


async def _asgi_websocket(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    connection = id(scope)
    try:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.connect":
                await send({"type": "websocket.accept", "subprotocol": SUBPROTOCOL})
            elif kind == "websocket.disconnect":
                return
            elif kind == "websocket.receive":
                text = message.get("text") or message.get("bytes")
                if text is None:
                    continue
                reply = _handle_text(text, connection, send, asgi_subscribers)
                if reply is not None:
                    await send({"type": "websocket.send", "text": reply})
    except Exception:
        return  # the server's way of saying the client left
    finally:
        asgi_subscribers.remove_connection(connection)


asgi_control = Control(_asgi_publish, asgi_subscribers.count)

asgi_app: ASGIApp = with_control(_asgi_websocket, asgi_control, app_handles_lifespan=False)
