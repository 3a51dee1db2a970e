"""``GraphQLServer.routes()``: Starlette routes built on demand, Starlette staying optional.

What the routes serve is checked over real servers by ``tests/docs/test_readme_apps.py``.
"""

from __future__ import annotations

import sys

import pytest
from starlette.routing import Route, WebSocketRoute

from examples.hello import schema
from gqlwire import GraphQLServer
from gqlwire.adapters.asgi import ASGIApp


def test_one_http_and_one_websocket_route_at_exactly_the_path() -> None:
    http, websocket = GraphQLServer(schema).routes("/api/graphql")
    assert isinstance(http, Route) and isinstance(websocket, WebSocketRoute)
    assert (http.path, websocket.path) == ("/api/graphql", "/api/graphql")
    assert http.methods is None  # every method reaches gqlwire, which answers 405 itself
    assert isinstance(http.app, ASGIApp) and http.app is websocket.app


def test_without_starlette_it_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "starlette.routing", None)  # import raises ImportError
    with pytest.raises(ImportError, match=r"Starlette is not installed \(pip install starlette\)"):
        GraphQLServer(schema).routes()
