"""GraphQL over HTTP on the WebSocket endpoint's URL, over every server.

The rules are those of ``gqlwire.http`` (the GraphQL-over-HTTP draft, with its open
choices made there): methods, ``Accept`` negotiation, request shapes, status codes per
media type, mutations over GET, subscriptions, masking, and the options and hooks shared
with the WebSocket side. The app is ``tests/apps/http_app.py``; one server process per
server name serves the whole module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.apps.http_app import CONTEXT_SECRET, EXPLODING_USER
from tests.harness.servers import ServerPool, ServerProcess, find_tracebacks
from tests.harness.wsclient import ws_client

# The rules checked here are gqlwire.http's own: the server only carries the request, so
# most cases run on one server per adapter (tests/conftest.py). Those marked every_server
# touch what servers hand over differently (methods, query strings, bodies, headers, the
# request in the context, logging) and run on every server.
pytestmark = pytest.mark.per_adapter

APP = "tests.apps.http_app:app"
GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
WHOAMI = "{ whoami { transport user operationId method scopeType } }"


@pytest.fixture(scope="module")
def proc(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(APP, server_name)


@pytest.fixture(scope="module")
def client(proc: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proc.http_url(""), timeout=10) as http:
        yield http


@pytest.fixture(autouse=True)
def expected_log_errors(proc: ServerProcess) -> Iterator[list[str]]:
    """Fail a test whose requests made the server log an error or a traceback, except
    those matching the patterns a test appends to this list."""
    allowed: list[str] = []
    offset = proc.log_offset()
    yield allowed
    log = proc.log(offset)
    unexpected = [
        text
        for text in proc.error_lines(offset) + find_tracebacks(log)
        if not any(re.search(pattern, text) for pattern in allowed)
    ]
    assert not unexpected, f"{proc!r} logged:\n" + "\n".join(unexpected) + f"\n---\n{log}"


def post(
    client: httpx.Client,
    body: Any,
    accept: str | None = GRAPHQL_RESPONSE,
    path: str = "/graphql",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {"content-type": JSON}
    if accept is not None:
        sent["accept"] = accept
    sent.update(headers or {})
    content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return client.post(path, content=content, headers=sent)


def get(
    client: httpx.Client,
    params: dict[str, str],
    accept: str | None = GRAPHQL_RESPONSE,
    path: str = "/graphql",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {"graphql-preflight": "1"}  # not a request another site could make (CSRF)
    if accept is not None:
        sent["accept"] = accept
    sent.update(headers or {})
    return client.get(f"{path}?{urlencode(params)}", headers=sent)


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0]


def assert_result(
    response: httpx.Response, status: int, media: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    assert (response.status_code, media_type(response)) == (status, media), response.text
    assert "charset=utf-8" in response.headers["content-type"]
    parsed: dict[str, Any] = response.json()
    if body is not None:
        assert parsed == body
    return parsed


def assert_request_error(response: httpx.Response, status: int, message: str) -> None:
    """A response that is not a GraphQL result: application/json, one error message."""
    assert (response.status_code, media_type(response)) == (status, JSON), response.text
    errors = response.json()["errors"]
    assert len(errors) == 1
    assert message in errors[0]["message"]


# --------------------------------------------------------------------------- POST and GET


@pytest.mark.every_server
def test_post_query(client: httpx.Client) -> None:
    response = post(client, {"query": "{ hello }"})
    assert_result(response, 200, GRAPHQL_RESPONSE, {"data": {"hello": "Hello world!"}})
    assert response.headers["vary"] == "Accept"


def test_post_with_variables_and_operation_name(client: httpx.Client) -> None:
    body = {
        "query": "query A { hello } query Sum($a: Int!, $b: Int!) { add(a: $a, b: $b) }",
        "variables": {"a": 2, "b": 3},
        "operationName": "Sum",
        "extensions": {"anything": ["goes"]},
    }
    assert_result(post(client, body), 200, GRAPHQL_RESPONSE, {"data": {"add": 5}})


def test_post_null_optionals_are_absent(client: httpx.Client) -> None:
    body = {"query": "{ hello }", "variables": None, "operationName": None, "extensions": None}
    assert_result(post(client, body), 200, GRAPHQL_RESPONSE, {"data": {"hello": "Hello world!"}})


def test_post_unknown_properties_are_ignored(client: httpx.Client) -> None:
    body = {"query": "{ hello }", "future": 1}
    assert_result(post(client, body), 200, GRAPHQL_RESPONSE, {"data": {"hello": "Hello world!"}})


@pytest.mark.every_server
def test_post_utf8(client: httpx.Client) -> None:
    body = {
        "query": 'query($n: String!) { a: hello(name: $n) b: hello(name: "Zoë") }',
        "variables": {"n": "日本"},
    }
    response = post(client, body)
    assert "日本".encode() in response.request.content  # sent as UTF-8, not as \u escapes
    assert_result(
        response, 200, GRAPHQL_RESPONSE, {"data": {"a": "Hello 日本!", "b": "Hello Zoë!"}}
    )


@pytest.mark.every_server
def test_get_query(client: httpx.Client) -> None:
    params = {
        "query": "query Sum($a: Int!, $b: Int!) { add(a: $a, b: $b) } query Other { hello }",
        "variables": json.dumps({"a": 40, "b": 2}),
        "operationName": "Sum",
        "extensions": json.dumps({"x": 1}),
    }
    assert_result(get(client, params), 200, GRAPHQL_RESPONSE, {"data": {"add": 42}})


@pytest.mark.every_server
def test_get_empty_parameters_are_absent(client: httpx.Client) -> None:
    params = {
        "query": '{ hello(name: "é") }',
        "variables": "",
        "operationName": "",
        "extensions": "",
    }
    assert_result(get(client, params), 200, GRAPHQL_RESPONSE, {"data": {"hello": "Hello é!"}})


def test_get_without_accept_answers_application_json(client: httpx.Client) -> None:
    response = get(client, {"query": "{ hello }"}, accept=None)
    assert_result(response, 200, JSON, {"data": {"hello": "Hello world!"}})


# --------------------------------------------------------------------------- mutations


def test_post_mutation_runs(client: httpx.Client) -> None:
    before = post(client, {"query": "{ counter }"}).json()["data"]["counter"]
    response = post(client, {"query": "mutation { increment }"})
    assert_result(response, 200, GRAPHQL_RESPONSE, {"data": {"increment": before + 1}})


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, JSON])
def test_get_mutation_is_refused_and_not_run(client: httpx.Client, accept: str) -> None:
    before = post(client, {"query": "{ counter }"}).json()["data"]["counter"]
    response = get(client, {"query": "mutation { increment }"}, accept=accept)
    body = assert_result(response, 405, accept)
    assert response.headers["allow"] == "POST"
    assert body == {"errors": [{"message": "Mutations cannot be sent with GET: use POST"}]}
    assert post(client, {"query": "{ counter }"}).json()["data"]["counter"] == before


def test_get_selects_the_query_of_a_document_with_a_mutation(client: httpx.Client) -> None:
    params = {"query": "query Q { counter } mutation M { increment }", "operationName": "Q"}
    response = get(client, params)
    assert "counter" in assert_result(response, 200, GRAPHQL_RESPONSE)["data"]
    params["operationName"] = "M"
    assert get(client, params).status_code == 405


def test_get_persisted_mutation_from_on_subscribe_is_refused(client: httpx.Client) -> None:
    """The GET check also covers documents that on_subscribe supplies."""
    before = post(client, {"query": "{ counter }"}).json()["data"]["counter"]
    params = {"query": "persisted", "extensions": json.dumps({"persisted": "increment"})}
    response = get(client, params, path="/hooks")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert post(client, {"query": "{ counter }"}).json()["data"]["counter"] == before
    persisted = {"query": "persisted", "extensions": {"persisted": "increment"}}
    response = post(client, persisted, path="/hooks")
    assert_result(response, 200, GRAPHQL_RESPONSE, {"data": {"increment": before + 1}})


# --------------------------------------------------------------------------- subscriptions


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, JSON])
def test_subscription_asks_for_a_websocket(client: httpx.Client, accept: str) -> None:
    response = post(client, {"query": "subscription { count(to: 2) }"}, accept=accept)
    body = assert_result(response, 426, accept)
    assert response.headers["upgrade"].lower() == "websocket"
    assert "WebSocket" in body["errors"][0]["message"]
    assert "data" not in body


def test_subscription_over_get_asks_for_a_websocket(client: httpx.Client) -> None:
    response = get(client, {"query": "subscription { count(to: 2) }"})
    assert_result(response, 426, GRAPHQL_RESPONSE)


def test_persisted_subscription_from_on_subscribe_asks_for_a_websocket(
    client: httpx.Client,
) -> None:
    body = {"query": "persisted", "extensions": {"persisted": "count"}}
    assert_result(post(client, body, path="/hooks"), 426, GRAPHQL_RESPONSE)


# --------------------------------------------------------------------------- GraphQL errors


@pytest.mark.parametrize(
    ("accept", "status"), [(GRAPHQL_RESPONSE, 400), (JSON, 200), (None, 200), ("*/*", 200)]
)
def test_syntax_error(client: httpx.Client, accept: str | None, status: int) -> None:
    response = post(client, {"query": "{ hello"}, accept=accept)
    media = GRAPHQL_RESPONSE if accept == GRAPHQL_RESPONSE else JSON
    body = assert_result(response, status, media)
    assert "data" not in body
    assert body["errors"][0]["message"].startswith("Syntax Error")
    assert body["errors"][0]["locations"] == [{"line": 1, "column": 8}]


@pytest.mark.every_server
@pytest.mark.parametrize(("accept", "status"), [(GRAPHQL_RESPONSE, 422), (JSON, 200)])
def test_validation_error(client: httpx.Client, accept: str, status: int) -> None:
    body = assert_result(post(client, {"query": "{ nope }"}, accept=accept), status, accept)
    assert body == {
        "errors": [
            {
                "message": "Cannot query field 'nope' on type 'Query'.",
                "locations": [{"line": 1, "column": 3}],
            }
        ]
    }


@pytest.mark.parametrize(("accept", "status"), [(GRAPHQL_RESPONSE, 422), (JSON, 200)])
def test_variables_that_do_not_coerce(client: httpx.Client, accept: str, status: int) -> None:
    body = {"query": "query($a: Int!) { add(a: $a, b: 1) }", "variables": {"a": "one"}}
    result = assert_result(post(client, body, accept=accept), status, accept)
    assert "data" not in result
    message = result["errors"][0]["message"]  # worded differently by graphql-core 3.2 and 3.3
    assert "Variable '$a'" in message and "'one'" in message


def test_missing_variable(client: httpx.Client) -> None:
    body = {"query": "query($a: Int!) { add(a: $a, b: 1) }"}
    result = assert_result(post(client, body), 422, GRAPHQL_RESPONSE)
    assert "data" not in result


@pytest.mark.parametrize(("accept", "status"), [(GRAPHQL_RESPONSE, 422), (JSON, 200)])
def test_operation_cannot_be_identified(client: httpx.Client, accept: str, status: int) -> None:
    body = {"query": "query A { hello } query B { counter }"}
    result = assert_result(post(client, body, accept=accept), status, accept)
    assert result == {"errors": [{"message": "Unable to identify operation"}]}
    body["operationName"] = "C"
    assert post(client, body).status_code == 422


# The resolvers of `partial` and `broken` raise on purpose; the server logs each such
# exception (its line and its traceback), and nothing else.
RESOLVER_FAILURE = r"RuntimeError: resolver failed$"


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, JSON])
def test_field_error_is_a_partial_success(
    client: httpx.Client, accept: str, expected_log_errors: list[str]
) -> None:
    expected_log_errors.append(RESOLVER_FAILURE)
    result = assert_result(post(client, {"query": "{ hello partial }"}, accept=accept), 200, accept)
    assert result["data"] == {"hello": "Hello world!", "partial": None}
    assert result["errors"] == [
        {"message": "resolver failed", "locations": [{"line": 1, "column": 9}], "path": ["partial"]}
    ]


def test_error_nulling_all_data_is_still_a_result(
    client: httpx.Client, expected_log_errors: list[str]
) -> None:
    expected_log_errors.append(RESOLVER_FAILURE)
    result = assert_result(post(client, {"query": "{ broken }"}), 200, GRAPHQL_RESPONSE)
    assert result["data"] is None
    assert result["errors"][0]["path"] == ["broken"]


# --------------------------------------------------------------------------- Accept


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (JSON, JSON),
        ("application/graphql-response+json, application/json;q=0.9", GRAPHQL_RESPONSE),
        ("application/json, application/graphql-response+json", GRAPHQL_RESPONSE),
        ("application/graphql-response+json;q=0.5, application/json", JSON),
        ("Application/GraphQL-Response+JSON; charset=UTF-8", GRAPHQL_RESPONSE),
        ("*/*", JSON),
        ("application/*", JSON),
        ("text/html, */*;q=0.8", JSON),
        ("application/json;q=0, */*", GRAPHQL_RESPONSE),
        ("application/graphql-response+json, */*", GRAPHQL_RESPONSE),
    ],
)
def test_accept_negotiation(client: httpx.Client, accept: str, chosen: str) -> None:
    # A validation error shows which status rules apply, not only the Content-Type.
    response = post(client, {"query": "{ nope }"}, accept=accept)
    assert_result(response, 422 if chosen == GRAPHQL_RESPONSE else 200, chosen)


@pytest.mark.every_server
def test_missing_accept_is_application_json(client: httpx.Client) -> None:
    response = post(client, {"query": "{ nope }"}, accept=None)
    assert_result(response, 200, JSON)


@pytest.mark.parametrize(
    "accept",
    [
        "text/html",
        "application/xml, text/*",
        "application/json;q=0, application/graphql-response+json;q=0",
        "application/graphql-response+json; charset=utf-16",
        "*/*;q=0",
    ],
)
def test_not_acceptable(client: httpx.Client, accept: str) -> None:
    before = post(client, {"query": "{ counter }"}).json()["data"]["counter"]
    response = post(client, {"query": "mutation { increment }"}, accept=accept)
    assert_request_error(response, 406, "Acceptable media types are")
    assert post(client, {"query": "{ counter }"}).json()["data"]["counter"] == before


# --------------------------------------------------------------------------- malformed requests


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_unsupported_content_type(client: httpx.Client, content_type: str) -> None:
    response = post(client, {"query": "{ hello }"}, headers={"content-type": content_type})
    assert_request_error(response, 415, "Unsupported Content-Type")


@pytest.mark.every_server
def test_missing_content_type(client: httpx.Client) -> None:
    response = client.post("/graphql", content=b'{"query": "{ hello }"}')
    assert "content-type" not in response.request.headers
    assert_request_error(response, 415, "Missing Content-Type")


@pytest.mark.every_server
def test_content_type_with_utf8_charset(client: httpx.Client) -> None:
    response = post(
        client, {"query": "{ hello }"}, headers={"content-type": "Application/JSON; charset=UTF-8"}
    )
    assert_result(response, 200, GRAPHQL_RESPONSE, {"data": {"hello": "Hello world!"}})


@pytest.mark.every_server
@pytest.mark.parametrize("body", [b"NONSENSE", b'{"query":', b"", b"\xff\xfe"])
@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, JSON])
def test_body_that_is_not_json(client: httpx.Client, body: bytes, accept: str) -> None:
    assert_request_error(post(client, body, accept=accept), 400, "not valid JSON")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([{"query": "{ hello }"}], "must be a JSON object"),
        ("{ hello }", "must be a JSON object"),
        ({"qeury": "{ hello }"}, "Missing query"),
        ({"query": None}, "Missing query"),
        ({"query": 7}, "query must be a string"),
        ({"query": "{ hello }", "variables": [7]}, "variables must be an object"),
        ({"query": "{ hello }", "variables": "{}"}, "variables must be an object"),
        ({"query": "{ hello }", "operationName": 1}, "operationName must be a string"),
        ({"query": "{ hello }", "extensions": "x"}, "extensions must be an object"),
    ],
)
@pytest.mark.parametrize(("accept", "status"), [(GRAPHQL_RESPONSE, 422), (JSON, 400)])
def test_malformed_post(
    client: httpx.Client, body: Any, message: str, accept: str, status: int
) -> None:
    assert_request_error(post(client, body, accept=accept), status, message)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Missing query"),
        ("query=", "Missing query"),
        ("operationName=A", "Missing query"),
        ("query=%7Bhello%7D&variables=%7Bnope", "variables parameter is not valid JSON"),
        ("query=%7Bhello%7D&variables=%5B1%5D", "variables must be an object"),
        ("query=%7Bhello%7D&extensions=1", "extensions must be an object"),
        ("query=%7Bhello%7D&query=%7Bcounter%7D", "query parameter must be given at most once"),
    ],
)
@pytest.mark.parametrize(("accept", "status"), [(GRAPHQL_RESPONSE, 422), (JSON, 400)])
def test_malformed_get(
    client: httpx.Client, query: str, message: str, accept: str, status: int
) -> None:
    response = client.get(f"/graphql?{query}", headers={"accept": accept, "graphql-preflight": "1"})
    assert_request_error(response, status, message)


@pytest.mark.every_server
def test_body_too_large(client: httpx.Client) -> None:
    response = post(client, {"query": "{ hello }" + " " * 2000}, path="/small")
    assert response.status_code == 413
    assert post(client, {"query": "{ hello }"}, path="/small").status_code == 200


# --------------------------------------------------------------------------- methods


@pytest.mark.every_server
@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods(client: httpx.Client, method: str) -> None:
    response = client.request(method, "/graphql", content=b'{"query": "{ hello }"}')
    assert_request_error(response, 405, f"Method {method} is not allowed")
    assert response.headers["allow"] == "GET, POST"


@pytest.mark.every_server
def test_head(client: httpx.Client) -> None:
    response = client.head("/graphql?query=%7Bhello%7D")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.content == b""


# --------------------------------------------------------------------------- options and hooks


@pytest.mark.every_server
def test_context_function_gets_the_request(client: httpx.Client) -> None:
    response = post(client, {"query": WHOAMI}, headers={"x-user": "alice"})
    assert assert_result(response, 200, GRAPHQL_RESPONSE)["data"]["whoami"] == {
        "transport": "http",
        "user": "alice",
        "operationId": None,
        "method": "POST",
        "scopeType": "http",
    }
    response = get(client, {"query": WHOAMI})
    assert response.json()["data"]["whoami"]["method"] == "GET"


@pytest.mark.every_server
async def test_same_context_function_over_websocket(proc: ServerProcess) -> None:
    async with ws_client(proc.ws_url()) as ws:
        await ws.send({"type": "connection_init", "payload": {"user": "bob"}})
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.send({"id": "7", "type": "subscribe", "payload": {"query": WHOAMI}})
        assert await ws.receive() == {
            "id": "7",
            "type": "next",
            "payload": {
                "data": {
                    "whoami": {
                        "transport": "graphql-transport-ws",
                        "user": "bob",
                        "operationId": "7",
                        "method": None,
                        "scopeType": "websocket",
                    }
                }
            },
        }
        assert await ws.receive() == {"id": "7", "type": "complete"}


@pytest.mark.every_server
def test_exception_from_application_code_is_masked(
    client: httpx.Client, proc: ServerProcess, expected_log_errors: list[str]
) -> None:
    expected_log_errors.append(re.escape(CONTEXT_SECRET))
    offset = proc.log_offset()
    response = post(client, {"query": "{ hello }"}, headers={"x-user": EXPLODING_USER})
    assert_request_error(response, 500, "Internal server error")
    assert CONTEXT_SECRET not in response.text
    assert CONTEXT_SECRET in proc.log(offset)  # the operator still learns what happened


def test_exception_message_shown_with_debug(
    client: httpx.Client, expected_log_errors: list[str]
) -> None:
    expected_log_errors.append(re.escape(CONTEXT_SECRET))
    response = post(client, {"query": "{ hello }"}, path="/debug", headers={"x-user": "explode"})
    assert_request_error(response, 500, CONTEXT_SECRET)


@pytest.mark.parametrize(("accept", "status"), [(GRAPHQL_RESPONSE, 422), (JSON, 200)])
def test_on_subscribe_errors_and_on_error(client: httpx.Client, accept: str, status: int) -> None:
    body = {"query": "query Forbidden { hello }", "operationName": "Forbidden"}
    result = assert_result(post(client, body, accept=accept, path="/hooks"), status, accept)
    assert result == {
        "errors": [{"message": "Forbidden by on_subscribe", "extensions": {"hooked": True}}]
    }


def test_on_error_formats_validation_errors(client: httpx.Client) -> None:
    result = assert_result(
        post(client, {"query": "{ nope }"}, path="/hooks"), 422, GRAPHQL_RESPONSE
    )
    assert result["errors"][0]["extensions"] == {"hooked": True}


def test_a_streamed_query_answers_its_first_result(client: httpx.Client) -> None:
    """HTTP carries one result: a custom execute's stream gives its first one."""
    response = post(client, {"query": "{ hello }"}, path="/live")
    assert_result(response, 200, GRAPHQL_RESPONSE, {"data": {"hello": "first"}})


def test_persisted_query_from_on_subscribe(client: httpx.Client) -> None:
    body = {"query": "persisted", "extensions": {"persisted": "hello"}}
    response = post(client, body, path="/hooks")
    assert_result(response, 200, GRAPHQL_RESPONSE, {"data": {"hello": "Hello world!"}})
