"""GraphiQL on the endpoint, as HTTP sees it: which requests get the page, its headers, its
assets, the option that turns it off, and API clients unaffected (on every server for what
servers change).

The browser itself runs in ``test_graphiql_browser.py``; the app is
``tests/apps/graphiql_app.py``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import httpx
import pytest

from gqlwire import GraphQLServer
from gqlwire.graphiql import CONTENT_SECURITY_POLICY, accepts_gzip, bundle, prefers_html
from tests.apps.graphiql_app import schema
from tests.harness.servers import ServerPool, ServerProcess, find_tracebacks

# Which request gets the page is gqlwire's own choice, so most cases run on one server
# per adapter (tests/conftest.py); the page and its assets, whose headers and bodies
# (gzip included) each server writes, are checked on every server.
pytestmark = pytest.mark.per_adapter

APP = "tests.apps.graphiql_app:app"
BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
"""What Chromium sends when someone opens a URL."""


@pytest.fixture(scope="module")
def proc(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(APP, server_name)


@pytest.fixture(scope="module")
def client(proc: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proc.http_url(""), timeout=10) as http:
        yield http


@pytest.fixture(autouse=True)
def clean_log(proc: ServerProcess) -> Iterator[None]:
    offset = proc.log_offset()
    yield
    log = proc.log(offset)
    problems = proc.error_lines(offset) + find_tracebacks(log)
    assert not problems, f"{proc!r} logged:\n" + "\n".join(problems)


def open_page(client: httpx.Client, path: str = "/graphql", query: str = "") -> httpx.Response:
    return client.get(path + (f"?{query}" if query else ""), headers={"accept": BROWSER_ACCEPT})


def asset_names(page: str) -> list[str]:
    return re.findall(r'(?:href|src)="\?graphiql=([^"]+)"', page)


@pytest.mark.every_server
def test_browser_gets_the_page(client: httpx.Client) -> None:
    response = open_page(client)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["vary"] == "Accept"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<title>GraphiQL</title>" in response.text
    names = asset_names(response.text)
    assert [name.rsplit(".", 1)[1] for name in names] == ["css", "js"]
    # Nothing in the page points anywhere else: only relative ?graphiql= URLs.
    assert "//" not in re.sub(r"<!--.*?-->", "", response.text)


def test_policy_allows_only_the_page_origin() -> None:
    directives = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'none'"
    for sources in directives.values():
        for source in sources.split():
            assert source in ("'self'", "'none'", "'unsafe-inline'", "data:"), source
    assert "'unsafe-inline'" not in directives["script-src"]


@pytest.mark.every_server
@pytest.mark.parametrize("path", ["/graphql", "/deeply/mounted/api"])
def test_assets_are_served_at_any_mount_path(client: httpx.Client, path: str) -> None:
    names = asset_names(open_page(client, path).text)
    for name in names:
        response = client.get(f"{path}?graphiql={name}", headers={"accept": "*/*"})
        assert response.status_code == 200, response.text
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        assert response.headers["content-type"] == f"{kind}; charset=utf-8"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["vary"] == "Accept-Encoding"
        # httpx asks for gzip and decodes it: the bytes are the asset's all the same.
        assert response.headers["content-encoding"] == "gzip"
        assert response.content == bundle().assets[name].body
        assert len(response.content) > 10_000  # the real bundle, not a stub


@pytest.mark.every_server
@pytest.mark.parametrize("accept_encoding", ["identity", "gzip;q=0, identity", "br"])
def test_assets_uncompressed_unless_gzip_is_accepted(
    client: httpx.Client, accept_encoding: str
) -> None:
    for name in asset_names(open_page(client).text):
        response = client.get(
            "/graphql", params={"graphiql": name}, headers={"accept-encoding": accept_encoding}
        )
        assert response.status_code == 200
        assert "content-encoding" not in response.headers
        assert response.content == bundle().assets[name].body


def test_asset_name_carries_its_hash() -> None:
    for name, asset in bundle().assets.items():
        assert hashlib.sha256(asset.body).hexdigest()[:16] in name


@pytest.mark.parametrize(
    "name", ["graphiql.js", "graphiql-0000000000000000.js", "../server.py", ""]
)
def test_unknown_asset_is_404(client: httpx.Client, name: str) -> None:
    response = client.get("/graphql", params={"graphiql": name})
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "No GraphiQL asset" in response.text


def test_query_string_does_not_stop_the_page(client: httpx.Client) -> None:
    # A browser opening a GraphQL GET URL still gets the page, not a CSRF refusal.
    response = open_page(client, query="query=%7Bhello%7D")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "application/json",
        "application/graphql-response+json, application/json;q=0.9",
        "text/html;q=0.5, application/json",
        "text/html, application/json",  # a tie goes to the API
        "text/*;q=0.9, */*",
    ],
)
def test_api_clients_get_graphql(client: httpx.Client, accept: str | None) -> None:
    headers = {"graphql-preflight": "1"}
    if accept is not None:
        headers["accept"] = accept
    response = client.get("/graphql", params={"query": "{ hello }"}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"hello": "Hello, world!"}}


def test_post_with_html_accept_is_graphql(client: httpx.Client) -> None:
    response = client.post(
        "/graphql", json={"query": "{ hello }"}, headers={"accept": BROWSER_ACCEPT}
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"hello": "Hello, world!"}}


def test_off_answers_as_before(client: httpx.Client) -> None:
    page = open_page(client, "/off")
    # What a browser GET got before GraphiQL: a GraphQL GET without a query.
    assert page.status_code == 400
    assert page.json() == {"errors": [{"message": "Missing query"}]}
    linked = client.get(
        "/off", headers={"accept": BROWSER_ACCEPT, "sec-fetch-site": "cross-site"}
    )  # a link on another site: the cross-site refusal
    assert linked.status_code == 400
    assert "cross-site request forgery" in linked.json()["errors"][0]["message"]
    name = asset_names(open_page(client).text)[0]
    asset = client.get("/off", params={"graphiql": name}, headers={"graphql-preflight": "1"})
    assert asset.status_code == 400  # a GraphQL GET without a query (422 as legacy JSON)
    assert asset.json() == {"errors": [{"message": "Missing query"}]}


def test_page_does_not_call_on_connect(client: httpx.Client) -> None:
    # /guarded refuses every request in on_connect: the static page is still served,
    # and what the page sends is refused as any request is.
    assert open_page(client, "/guarded").status_code == 200
    refused = client.post("/guarded", json={"query": "{ hello }"})
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("text/html;q=0.9, application/json;q=0.8", True),
        ("text/*, application/json;q=0.5", True),
        (None, False),
        ("", False),
        ("*/*", False),
        ("text/html;q=0", False),
        ("text/html;q=nope, */*;q=0.1", False),
        ("text/html, application/graphql-response+json", False),
        ("text/html;q=0.8, */*", False),
    ],
)
def test_prefers_html(accept: str | None, expected: bool) -> None:
    assert prefers_html(accept) is expected


@pytest.mark.parametrize(
    ("accept_encoding", "expected"),
    [
        ("gzip, deflate, br, zstd", True),
        ("br;q=1, gzip;q=0.5", True),
        ("*", True),
        ("x-gzip", True),
        ("gzip;q=0", False),
        ("*;q=0", False),
        ("identity", False),
        (None, False),
    ],
)
def test_accepts_gzip(accept_encoding: str | None, expected: bool) -> None:
    assert accepts_gzip(accept_encoding) is expected


@pytest.mark.parametrize("value", ["no", 0, None])
def test_option_is_checked_when_the_server_is_built(value: object) -> None:
    with pytest.raises(TypeError, match=f"graphiql must be True or False, got {value!r}"):
        GraphQLServer(schema, graphiql=value)  # type: ignore[arg-type]
    assert GraphQLServer(schema).options.graphiql is True
