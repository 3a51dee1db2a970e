"""One context for both transports: what hooks see, over real servers, and the pieces it
is made of (headers, cookies, the HTTP response draft) as plain calls.

The app is ``tests/apps/context_app.py``: its ``context`` function reports what it saw.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gqlwire import Headers, HTTPResponseDraft
from gqlwire.context import parse_cookies
from tests.harness.protocols import PROTOCOLS, SUBSCRIBE
from tests.harness.servers import ServerPool, ServerProcess, assert_clean_log
from tests.harness.wsclient import ws_client

# Building the context is gqlwire's own work, so the plain calls run on one server per
# adapter (tests/conftest.py); what each server hands over (headers, cookies, the
# request, a response it must write) runs on every server.
pytestmark = pytest.mark.per_adapter

APP = "tests.apps.context_app:app"
COOKIE = 'session=abc; malformed; =nameless; theme="dark"; session=shadowed'
COOKIES = {"session": "abc", "theme": "dark"}


@pytest.fixture(scope="module")
def proc(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(APP, server_name)


@pytest.fixture(autouse=True)
def expected_log(proc: ServerProcess) -> Iterator[list[str]]:
    """Fail a test that made the server log an error, except the patterns it appends."""
    allowed: list[str] = []
    offset = proc.log_offset()
    yield allowed
    assert_clean_log(proc, since=offset, allow=allowed)


def post(proc: ServerProcess, headers: list[tuple[str, str]]) -> httpx.Response:
    return httpx.post(proc.http_url(), json={"query": "{ seen }"}, headers=headers, timeout=10)


@pytest.mark.every_server
def test_http_context(proc: ServerProcess, server_name: str) -> None:
    headers = [("X-Probe", "one"), ("x-probe", "two"), ("Cookie", COOKIE)]
    response = post(proc, headers)
    assert response.status_code == 200
    assert json.loads(response.json()["data"]["seen"]) == {
        "transport": "http",
        "probe": "one, two",
        "cookies": COOKIES,
        "request": server_name == "aiohttp",
        "scope": server_name != "aiohttp",
        "extra": {"request" if server_name == "aiohttp" else "scope": True},
        "params": None,
        "state": {"connected": "http"},
        "method": "POST",
    }
    # What on_connect set on ctx.response.
    assert response.headers["x-seen"] == "yes"
    assert response.headers.get_list("set-cookie") == ["visited=1; Path=/; HttpOnly; SameSite=Lax"]
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.every_server
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_websocket_context(proc: ServerProcess, server_name: str, protocol: str) -> None:
    headers = {"X-Probe": "handshake", "Cookie": COOKIE}
    async with ws_client(proc.ws_url(), [protocol], extra_headers=headers) as client:
        await client.send({"type": "connection_init", "payload": {"token": "t"}})
        assert await client.receive() == {"type": "connection_ack"}
        start = {"id": "1", "type": SUBSCRIBE[protocol], "payload": {"query": "{ seen }"}}
        await client.send(start)
        result = await client.receive()
    assert json.loads(result["payload"]["data"]["seen"]) == {
        "transport": "websocket",
        "probe": "handshake",
        "cookies": COOKIES,
        "request": server_name == "aiohttp",
        "scope": server_name != "aiohttp",
        "extra": {"request" if server_name == "aiohttp" else "scope": True},
        "params": {"token": "t"},
        "state": {"connected": "websocket"},
        "method": None,
    }


@pytest.mark.every_server
def test_a_refusal_carries_what_on_connect_set(proc: ServerProcess) -> None:
    forbidden = post(proc, [("X-Refuse", "yes")])
    assert (forbidden.status_code, forbidden.json()) == (
        403,
        {"errors": [{"message": "Forbidden"}]},
    )
    assert forbidden.headers["x-seen"] == "yes"
    unauthorized = post(proc, [("X-Refuse", "401")])
    assert unauthorized.status_code == 401
    assert unauthorized.json() == {"errors": [{"message": "Forbidden"}]}
    assert unauthorized.headers["www-authenticate"] == 'Bearer realm="gqlwire"'


@pytest.mark.every_server
def test_a_header_no_response_can_carry_is_a_500(
    proc: ServerProcess, expected_log: list[str]
) -> None:
    expected_log.append(r"ValueError: Invalid value for response header 'X-Bad'")
    response = post(proc, [("X-Bad-Header", "1")])
    assert (response.status_code, response.json()) == (
        500,
        {"errors": [{"message": "Internal server error"}]},
    )
    assert "x-bad" not in response.headers and "set-cookie" not in response.headers


# --------------------------------------------------------------------------- the pieces


def test_headers_are_case_insensitive_and_join_repeated_values() -> None:
    headers = Headers([(b"x-a", b"1"), ("X-A", "2"), (b"Cookie", b"a=1"), (b"cookie", b"b=2")])
    assert headers["X-a"] == "1, 2"
    assert headers.get("cookie") == "a=1; b=2"  # HTTP/2 splits Cookie; "; " rejoins it
    assert "X-A" in headers and "x-b" not in headers
    assert sorted(headers) == ["cookie", "x-a"] and len(headers) == 2
    assert Headers([(b"x-latin", "café".encode("latin-1"))])["x-latin"] == "café"
    with pytest.raises(KeyError):
        headers["missing"]


def test_a_connection_context_reads_the_servers_own_headers_on_first_use() -> None:
    from gqlwire.context import ConnectionContext

    raw = [(b"Cookie", b"a=1"), (b"X-Token", b"t")]
    context = ConnectionContext(None, {}, raw)  # type: ignore[arg-type]  # no connection read
    headers = context.headers
    assert isinstance(headers, Headers) and headers["x-token"] == "t"
    assert context.headers is headers  # wrapped once
    assert context.cookies == {"a": "1"}
    given = Headers([("x-a", "1")])
    assert ConnectionContext(None, {}, given).headers is given  # type: ignore[arg-type]


def test_extra_given_as_one_pair_is_made_a_dict_on_first_use() -> None:
    from gqlwire.context import ConnectionContext

    request = object()
    context = ConnectionContext(None, ("request", request), ())  # type: ignore[arg-type]
    assert (context.request, context.scope) == (request, None)
    # Until a hook reads extra, the context holds no dict for it: one object fewer per
    # idle connection, which the garbage collector would otherwise walk.
    assert not any(isinstance(held, dict) for held in gc.get_referents(context))
    assert context.extra == {"request": request}
    assert context.extra is context.extra
    context.extra["user"] = "ada"  # the application may add to it
    assert context.extra == {"request": request, "user": "ada"}
    assert context.request is request
    context.extra = {"scope": "replaced"}
    assert (context.request, context.scope, context.extra) == (
        None,
        "replaced",
        {"scope": "replaced"},
    )
    given = {"scope": {"type": "websocket"}}
    built = ConnectionContext(None, given, ())  # type: ignore[arg-type]
    assert built.extra is given and built.scope is given["scope"] and built.request is None


@pytest.mark.parametrize(
    ("header", "cookies"),
    [
        (None, {}),
        ("", {}),
        (";;; ;", {}),
        ("a=1", {"a": "1"}),
        ("a=1;b=2 ; c = 3 ", {"a": "1", "b": "2", "c": "3"}),
        ('q="quoted"; e=""; half="open', {"q": "quoted", "e": "", "half": '"open'}),
        ("a=1; a=2", {"a": "1"}),
        ("novalue; =noname; ok=yes; x=a=b", {"ok": "yes", "x": "a=b"}),
        ("é=\x00\xff", {"é": "\x00\xff"}),
    ],
)
def test_cookies_never_raise(header: str | None, cookies: dict[str, str]) -> None:
    assert parse_cookies(header) == cookies


def test_the_response_draft_merges_into_a_response() -> None:
    draft = HTTPResponseDraft()
    assert draft.is_empty()
    draft.status_code = 201
    draft.headers["Content-Type"] = "text/plain"
    draft.headers["X-New"] = "1"
    draft.set_cookie("a", "1")
    draft.set_cookie(
        "b", "2", max_age=60, path=None, domain="example.com", secure=True, samesite="None"
    )
    draft.set_cookie("a", "3")  # the same name again: replaces the first
    status, headers = draft.merged_into(200, [("content-type", "application/json"), ("vary", "x")])
    assert status == 201
    assert headers == [
        ("vary", "x"),
        ("content-type", "text/plain"),
        ("x-new", "1"),
        ("set-cookie", "a=3; Path=/"),
        ("set-cookie", "b=2; Max-Age=60; Domain=example.com; Secure; SameSite=None"),
    ]


@pytest.mark.parametrize(
    ("name", "value", "options"),
    [
        ("bad name", "v", {}),
        ("a;b", "v", {}),
        ("n", "semi;colon", {}),
        ("n", "new\nline", {}),
        ("n", "v", {"path": "/a;b"}),
        ("n", "v", {"samesite": "sometimes"}),
    ],
)
def test_set_cookie_refuses_what_a_header_cannot_carry(
    name: str, value: str, options: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        HTTPResponseDraft().set_cookie(name, value, **options)


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (99, {}),
        (True, {}),
        (None, {"bad name": "v"}),
        (None, {"x": "a\r\nb"}),
        (None, {"x": "€"}),
        (None, {"Content-Length": "1"}),
    ],
)
def test_a_draft_no_response_can_carry_raises(status: Any, headers: dict[str, Any]) -> None:
    draft = HTTPResponseDraft()
    draft.status_code = status
    draft.headers.update(headers)
    with pytest.raises(ValueError):
        draft.merged_into(200, [])
