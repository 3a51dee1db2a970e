"""Strawberry, Ariadne and Graphene schemas served by an unchanged ``GraphQLServer(schema)``.

The same API in each library (``tests/apps/third_party_schemas.py``): queries, a mutation, an
async-generator subscription, a resolver that raises; over graphql-transport-ws, legacy
graphql-ws and HTTP, on every server. Resolvers read ``info.context`` as their
library's own integrations fill it (``request``, ``response`` over HTTP,
``connection_params`` over WebSocket), and a ``context`` option replaces that. Strawberry
runs both ways: on gqlwire's fast path and through its own pipeline, where its schema
extensions run and gqlwire's hooks still do.

Graphene holds graphql-core below 3.3, so its cases are skipped where it is not installed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import strawberry
from graphql import DirectiveLocation

from gqlwire import ConnectionContext, GraphQLServer, Headers, HTTPContext, schema_libraries
from gqlwire.protocol import OperationId
from gqlwire.schema_libraries import default_context, uses_strawberry_pipeline
from tests.apps.third_party_schemas import (
    GRAPHENE_INSTALLED,
    GRAPHENE_MISSING,
    NOT_ADMIN,
    REFUSED_BY_ON_SUBSCRIBE,
    RESOLVER_ERROR,
    SECRET,
    ariadne_schema,
    extended_schema,
    strawberry_schema,
)
from tests.harness.protocols import LEGACY_WS, PROTOCOLS, RESULT, SUBSCRIBE, TRANSPORT_WS
from tests.harness.servers import ServerPool, ServerProcess, assert_clean_log
from tests.harness.wsclient import WSClient, ws_client

# Unwrapping a library's schema and filling its context are gqlwire's own work, the same
# behind every ASGI server (Starlette's request there, aiohttp's on aiohttp): the cases
# run on one server per adapter (tests/conftest.py); the reference suites check each
# protocol on every server. A resolver's response (status, headers, cookies) goes through
# each server's own HTTP writing, so that case runs on every server.
pytestmark = pytest.mark.per_adapter

APP = "tests.apps.third_party_schemas:app"
GRAPHQL_RESPONSE = "application/graphql-response+json"

LIBRARIES = [
    "strawberry",
    "strawberry-pipeline",
    "ariadne",
    pytest.param(
        "graphene",
        marks=pytest.mark.skipif(not GRAPHENE_INSTALLED, reason=GRAPHENE_MISSING),
    ),
]
by_library = pytest.mark.parametrize("library", LIBRARIES)

# Strawberry's pipeline (the "strawberry-pipeline" and "extended" endpoints) logs every
# error itself, as Strawberry's own integrations do: `ERROR:strawberry.execution: ...`.
PIPELINE_ENDPOINTS = ("strawberry-pipeline", "extended")


@pytest.fixture(scope="module")
def proc(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(APP, server_name)


# A resolver that raises is logged by the server (its line and its traceback, once); a
# test that makes one raise expects exactly that.
RESOLVER_ERROR_LOGGED = rf"RuntimeError: {RESOLVER_ERROR}$"


@pytest.fixture(autouse=True)
def expected_log(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Fail a test that made the server log an error or a traceback, except those that
    match the patterns the test appends to this list. (Tests without a server have
    nothing to check, and are not run once per server.)"""
    allowed: list[str] = []
    if "proc" not in request.fixturenames:
        yield allowed
        return
    proc: ServerProcess = request.getfixturevalue("proc")
    offset = proc.log_offset()
    yield allowed
    assert_clean_log(proc, since=offset, allow=allowed)


def expect_resolver_error(expected_log: list[str], endpoint: str) -> None:
    expected_log.append(RESOLVER_ERROR_LOGGED)
    if endpoint in PIPELINE_ENDPOINTS:
        expected_log.append(rf"strawberry\.execution: {RESOLVER_ERROR}$")


def expect_pipeline_log(expected_log: list[str], endpoint: str, message: str) -> None:
    """An error that Strawberry's pipeline logs (gqlwire does not): its line, and the
    traceback of the exception that carried it, if any."""
    if endpoint.split("/")[0] in PIPELINE_ENDPOINTS:
        expected_log.append(rf"strawberry\.execution: {re.escape(message)}")
        expected_log.append(rf"^[\w.]+Error: {re.escape(message)}$")


# --------------------------------------------------------------------------- helpers


async def init(c: WSClient, params: dict[str, Any] | None = None) -> None:
    init: dict[str, Any] = {"type": "connection_init"}
    if params is not None:
        init["payload"] = params
    await c.send(init)
    while (message := await c.receive())["type"] == "ka":
        continue
    assert message == {"type": "connection_ack"}


async def transport_ws_results(c: WSClient, id: str, payload: dict[str, Any]) -> list[Any]:
    """The payloads of every ``next`` of one operation, up to its ``complete``."""
    await c.send({"id": id, "type": "subscribe", "payload": payload})
    results: list[Any] = []
    while True:
        message = await c.receive()
        assert message["id"] == id, message
        if message["type"] == "complete":
            return results
        assert message["type"] == "next", message
        results.append(message["payload"])


async def legacy_results(c: WSClient, id: str, payload: dict[str, Any]) -> list[Any]:
    """The payloads of every ``data`` of one legacy operation, up to its ``complete``
    (keep-alive ``ka`` messages skipped)."""
    await c.send({"id": id, "type": "start", "payload": payload})
    results: list[Any] = []
    while True:
        message = await c.receive()
        if message["type"] == "ka":
            continue
        assert message["id"] == id, message
        if message["type"] == "complete":
            return results
        assert message["type"] == "data", message
        results.append(message["payload"])


async def results_on(
    proc: ServerProcess,
    path: str,
    protocol: str,
    query: str,
    params: dict[str, Any] | None = None,
) -> list[Any]:
    """The payloads of one operation on a new connection to ``path``, up to its
    ``complete``; an ``error`` message ends them as ``{"error": payload}`` (a list on
    graphql-transport-ws, one object on legacy graphql-ws, which sends validation errors
    as ``data`` instead)."""
    async with ws_client(proc.ws_url(f"/{path}"), subprotocols=[protocol]) as c:
        assert c.subprotocol == protocol
        await init(c, params)
        await c.send({"id": "1", "type": SUBSCRIBE[protocol], "payload": {"query": query}})
        results: list[Any] = []
        while True:
            message = await c.receive()
            if message["type"] == "ka":
                continue
            assert message["id"] == "1", message
            if message["type"] == "complete":
                return results
            if message["type"] == "error":
                return [*results, {"error": message["payload"]}]
            assert message["type"] == RESULT[protocol], message
            results.append(message["payload"])


def failed_field(column: int) -> dict[str, Any]:
    return {
        "message": RESOLVER_ERROR,
        "locations": [{"line": 1, "column": column}],
        "path": ["fail"],
    }


def post(proc: ServerProcess, path: str, body: Any, **headers: str) -> httpx.Response:
    sent = {"accept": GRAPHQL_RESPONSE, **headers}
    return httpx.post(proc.http_url(f"/{path}"), json=body, headers=sent, timeout=10)


def request_type(server_name: str, transport: str) -> str:
    """What ``info.context["request"]`` is: aiohttp's request, or Starlette's."""
    if server_name == "aiohttp":
        return "aiohttp.web_request.Request"
    if transport == "http":
        return "starlette.requests.Request"
    return "starlette.websockets.WebSocket"


# --------------------------------------------------------------------------- graphql-transport-ws


@by_library
async def test_transport_ws_query_with_variables(proc: ServerProcess, library: str) -> None:
    async with ws_client(proc.ws_url(f"/{library}"), subprotocols=[TRANSPORT_WS]) as c:
        await init(c)
        payload = {"query": "query Q($n: String!) { hello(name: $n) }", "variables": {"n": "Ada"}}
        assert await transport_ws_results(c, "1", payload) == [{"data": {"hello": "Hello Ada!"}}]


@by_library
async def test_transport_ws_mutation(proc: ServerProcess, library: str) -> None:
    async with ws_client(proc.ws_url(f"/{library}"), subprotocols=[TRANSPORT_WS]) as c:
        await init(c)
        payload = {"query": 'mutation { shout(text: "hey") }'}
        assert await transport_ws_results(c, "m", payload) == [{"data": {"shout": "HEY"}}]


@by_library
async def test_transport_ws_subscription(proc: ServerProcess, library: str) -> None:
    async with ws_client(proc.ws_url(f"/{library}"), subprotocols=[TRANSPORT_WS]) as c:
        await init(c)
        results = await transport_ws_results(c, "s", {"query": "subscription { count(to: 3) }"})
        assert results == [{"data": {"count": n}} for n in (1, 2, 3)]


@by_library
async def test_transport_ws_resolver_error(
    proc: ServerProcess, library: str, expected_log: list[str]
) -> None:
    expect_resolver_error(expected_log, library)
    async with ws_client(proc.ws_url(f"/{library}"), subprotocols=[TRANSPORT_WS]) as c:
        await init(c)
        results = await transport_ws_results(c, "e", {"query": "{ hello fail }"})
        assert results == [
            {"data": {"hello": "Hello world!", "fail": None}, "errors": [failed_field(9)]}
        ]
        await c.expect_nothing()  # the connection stays open


@by_library
async def test_transport_ws_connection_params_in_resolvers(
    proc: ServerProcess, library: str
) -> None:
    async with ws_client(proc.ws_url(f"/{library}"), subprotocols=[TRANSPORT_WS]) as c:
        await init(c, {"user": "grace"})
        results = await transport_ws_results(c, "c", {"query": "{ whoami }"})
        assert results == [{"data": {"whoami": "grace"}}]


# --------------------------------------------------------------------------- legacy graphql-ws


@by_library
async def test_legacy_query_and_mutation(proc: ServerProcess, library: str) -> None:
    async with ws_client(proc.ws_url(f"/{library}"), subprotocols=[LEGACY_WS]) as c:
        assert c.subprotocol == LEGACY_WS
        await init(c)
        query = {"query": '{ hello(name: "Lin") }'}
        assert await legacy_results(c, "1", query) == [{"data": {"hello": "Hello Lin!"}}]
        mutation = {"query": 'mutation { shout(text: "yo") }'}
        assert await legacy_results(c, "2", mutation) == [{"data": {"shout": "YO"}}]


@by_library
async def test_legacy_subscription(proc: ServerProcess, library: str) -> None:
    async with ws_client(proc.ws_url(f"/{library}"), subprotocols=[LEGACY_WS]) as c:
        await init(c)
        results = await legacy_results(c, "s", {"query": "subscription { count(to: 4) }"})
        assert results == [{"data": {"count": n}} for n in (1, 2, 3, 4)]


@by_library
async def test_legacy_resolver_error_and_connection_params(
    proc: ServerProcess, library: str, expected_log: list[str]
) -> None:
    expect_resolver_error(expected_log, library)
    async with ws_client(proc.ws_url(f"/{library}"), subprotocols=[LEGACY_WS]) as c:
        await init(c, {"user": "linus"})
        results = await legacy_results(c, "e", {"query": "{ whoami fail }"})
        assert results == [
            {"data": {"whoami": "linus", "fail": None}, "errors": [failed_field(10)]}
        ]


# --------------------------------------------------------------------------- HTTP


@by_library
def test_http_query_request_header_and_mutation(proc: ServerProcess, library: str) -> None:
    response = post(proc, library, {"query": "{ hello whoami }"}, **{"x-user": "barbara"})
    assert response.status_code == 200
    assert response.json() == {"data": {"hello": "Hello world!", "whoami": "barbara"}}
    response = post(proc, library, {"query": 'mutation { shout(text: "a") }'})
    assert response.json() == {"data": {"shout": "A"}}


@by_library
def test_http_get_query(proc: ServerProcess, library: str) -> None:
    response = httpx.get(
        proc.http_url(f"/{library}"),
        params={"query": "query($n: String!) { hello(name: $n) }", "variables": '{"n": "Kay"}'},
        headers={"accept": GRAPHQL_RESPONSE, "graphql-preflight": "1"},
        timeout=10,
    )
    assert (response.status_code, response.json()) == (200, {"data": {"hello": "Hello Kay!"}})


@by_library
def test_http_resolver_error(proc: ServerProcess, library: str, expected_log: list[str]) -> None:
    expect_resolver_error(expected_log, library)
    response = post(proc, library, {"query": "{ hello fail }"})
    assert response.status_code == 200
    assert response.json() == {
        "data": {"hello": "Hello world!", "fail": None},
        "errors": [failed_field(9)],
    }


@by_library
def test_http_validation_error_and_subscription(
    proc: ServerProcess, library: str, expected_log: list[str]
) -> None:
    expect_pipeline_log(expected_log, library, "Cannot query field 'nope'")
    offset = proc.log_offset()
    response = post(proc, library, {"query": "{ nope }"})
    assert response.status_code == 422
    assert "nope" in response.json()["errors"][0]["message"]
    # Strawberry's pipeline validates for itself and logs what it refused (gqlwire logs
    # no validation error): gqlwire did not validate first.
    strawberry_validated = "Cannot query field 'nope'" in proc.log(offset)
    assert strawberry_validated is (library in PIPELINE_ENDPOINTS)
    response = post(proc, library, {"query": "subscription { count(to: 1) }"})
    assert response.status_code == 426


# --------------------------------------------------------------------------- the default context


@by_library
def test_default_context_over_http(proc: ServerProcess, library: str, server_name: str) -> None:
    response = post(proc, library, {"query": "{ context }"})
    assert response.status_code == 200, response.text
    assert json.loads(response.json()["data"]["context"]) == {
        "request": request_type(server_name, "http"),
        "response": "gqlwire.context.HTTPResponseDraft",
    }


@pytest.mark.every_server
@by_library
def test_response_set_by_a_resolver_reaches_http(proc: ServerProcess, library: str) -> None:
    response = post(proc, library, {"query": 'mutation { remember(name: "ada") }'})
    assert (response.status_code, response.json()) == (201, {"data": {"remember": "ada"}})
    assert response.headers["x-remembered"] == "ada"
    assert response.headers.get_list("set-cookie") == ["user=ada; Path=/; HttpOnly"]


@by_library
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_default_context_over_websocket(
    proc: ServerProcess, library: str, server_name: str, protocol: str
) -> None:
    results = await results_on(proc, library, protocol, "{ context }", {"user": "grace"})
    assert json.loads(results[0]["data"]["context"]) == {
        "request": request_type(server_name, "websocket"),
        "connection_params": {"user": "grace"},
    }
    # No connection_init payload: an empty dict, not None.
    results = await results_on(proc, library, protocol, "{ context }")
    assert json.loads(results[0]["data"]["context"])["connection_params"] == {}


@by_library
async def test_a_websocket_has_no_response_to_set(proc: ServerProcess, library: str) -> None:
    query = 'mutation { remember(name: "ada") }'
    results = await results_on(proc, library, TRANSPORT_WS, query)
    assert results == [{"data": {"remember": "ada"}}]


@by_library
async def test_own_context_function_wins(proc: ServerProcess, library: str) -> None:
    response = post(proc, f"{library}/own-context", {"query": "{ context }"})
    assert json.loads(response.json()["data"]["context"]) == {"own": "http"}
    for protocol in PROTOCOLS:
        results = await results_on(proc, f"{library}/own-context", protocol, "{ context }")
        assert json.loads(results[0]["data"]["context"]) == {"own": "websocket"}


@by_library
async def test_own_context_value_wins(proc: ServerProcess, library: str) -> None:
    response = post(proc, f"{library}/context-value", {"query": "{ context }"})
    assert json.loads(response.json()["data"]["context"]) == {"fixed": "value"}
    results = await results_on(proc, f"{library}/context-value", TRANSPORT_WS, "{ context }")
    assert json.loads(results[0]["data"]["context"]) == {"fixed": "value"}


# --------------------------------------------------------------------------- permission classes


@pytest.mark.parametrize("library", ["strawberry", "strawberry-pipeline"])
async def test_permission_classes_run_on_both_paths(
    proc: ServerProcess, library: str, expected_log: list[str]
) -> None:
    expect_pipeline_log(expected_log, library, NOT_ADMIN)
    response = post(proc, library, {"query": "{ secret }"}, **{"x-user": "admin"})
    assert response.json() == {"data": {"secret": SECRET}}
    response = post(proc, library, {"query": "{ secret }"}, **{"x-user": "eve"})
    assert [error["message"] for error in response.json()["errors"]] == [NOT_ADMIN]
    results = await results_on(proc, library, TRANSPORT_WS, "{ secret }", {"user": "eve"})
    assert [error["message"] for error in results[0]["errors"]] == [NOT_ADMIN]


# --------------------------------------------------------------------------- Strawberry's pipeline
#
# "extended" has two schema extensions and no strawberry_pipeline option, so it runs
# through Strawberry's pipeline; "extended-fast" is the same schema on gqlwire's fast path.

STAMP = {"stamp": "strawberry"}
TOO_DEEP = "{ deep { deep { deep { deep { leaf } } } } }"
TOO_DEEP_ERROR = "'anonymous' exceeds maximum operation depth of 3"
TOO_DEEP_RESULT = {"data": {"deep": {"deep": {"deep": {"deep": {"leaf": 1}}}}}}
by_mode = pytest.mark.parametrize("mode", ["extended", "extended-fast"])


@by_mode
def test_extension_results_over_http(proc: ServerProcess, mode: str) -> None:
    response = post(proc, mode, {"query": "{ hello }"})
    expected: dict[str, Any] = {"data": {"hello": "Hello world!"}}
    if mode == "extended":
        expected["extensions"] = STAMP
    assert (response.status_code, response.json()) == (200, expected)


@by_mode
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_extension_results_over_websocket(
    proc: ServerProcess, mode: str, protocol: str
) -> None:
    stamp = {"extensions": STAMP} if mode == "extended" else {}
    results = await results_on(proc, mode, protocol, "{ hello }")
    assert results == [{"data": {"hello": "Hello world!"}, **stamp}]
    results = await results_on(proc, mode, protocol, "subscription { count(to: 2) }")
    assert results == [{"data": {"count": n}, **stamp} for n in (1, 2)]


@by_mode
def test_depth_limit_over_http(proc: ServerProcess, mode: str, expected_log: list[str]) -> None:
    expect_pipeline_log(expected_log, mode, TOO_DEEP_ERROR)
    response = post(proc, mode, {"query": TOO_DEEP})
    if mode == "extended":
        assert response.status_code == 422
        assert [e["message"] for e in response.json()["errors"]] == [TOO_DEEP_ERROR]
    else:
        assert (response.status_code, response.json()) == (200, TOO_DEEP_RESULT)


@by_mode
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_depth_limit_over_websocket(
    proc: ServerProcess, mode: str, protocol: str, expected_log: list[str]
) -> None:
    expect_pipeline_log(expected_log, mode, TOO_DEEP_ERROR)
    results = await results_on(proc, mode, protocol, TOO_DEEP)
    if mode == "extended-fast":
        assert results == [TOO_DEEP_RESULT]
        return
    # Answered as a validation error: `error` (legacy: `data {errors}`, then `complete`).
    [result] = results
    errors = result["error"] if protocol == TRANSPORT_WS else result["errors"]
    assert [error["message"] for error in errors] == [TOO_DEEP_ERROR]


@by_mode
def test_hooks_run_in_both_modes_over_http(
    proc: ServerProcess, mode: str, expected_log: list[str]
) -> None:
    path = f"{mode}/hooks"
    response = post(proc, path, {"query": "{ hello }"})
    assert response.json() == {"data": {"hello": "Hello world!"}, "extensions": {"on_next": True}}
    response = post(proc, path, {"query": "{ refuse: hello }"})
    assert response.status_code == 422
    assert response.json() == {"errors": [{"message": f"on_error: {REFUSED_BY_ON_SUBSCRIBE}"}]}
    expect_pipeline_log(expected_log, path, "Cannot query field 'nope'")
    response = post(proc, path, {"query": "{ nope }"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"].startswith("on_error: Cannot query field")


@by_mode
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_hooks_run_in_both_modes_over_websocket(
    proc: ServerProcess, mode: str, protocol: str, expected_log: list[str]
) -> None:
    path = f"{mode}/hooks"
    replaced = {"extensions": {"on_next": True}}
    results = await results_on(proc, path, protocol, "subscription { count(to: 2) }")
    assert results == [{"data": {"count": n}, **replaced} for n in (1, 2)]
    refused = {"message": f"on_error: {REFUSED_BY_ON_SUBSCRIBE}"}
    results = await results_on(proc, path, protocol, "{ refuse: hello }")
    assert results == [{"error": [refused] if protocol == TRANSPORT_WS else refused}]
    if mode == "extended":
        expect_pipeline_log(expected_log, path, TOO_DEEP_ERROR)
        results = await results_on(proc, path, protocol, TOO_DEEP)
        too_deep = [{"message": f"on_error: {TOO_DEEP_ERROR}"}]
        expected = [{"error": too_deep}] if protocol == TRANSPORT_WS else [{"errors": too_deep}]
        assert results == expected


# --------------------------------------------------------------------------- choosing the pipeline


@pytest.mark.parametrize(
    ("schema", "option", "expected"),
    [
        (strawberry_schema, None, False),  # nothing that needs Strawberry's pipeline
        (extended_schema, None, True),  # schema extensions
        (strawberry_schema, True, True),
        (extended_schema, False, False),
        (ariadne_schema, None, False),
        (ariadne_schema, False, False),
    ],
)
def test_which_schemas_run_through_strawberrys_pipeline(
    schema: Any, option: bool | None, expected: bool
) -> None:
    server = GraphQLServer(schema, strawberry_pipeline=option)
    assert server.runtime.runs_strawberry_pipeline is expected


def test_custom_directives_and_process_errors_need_strawberrys_pipeline() -> None:
    @strawberry.directive(locations=[DirectiveLocation.FIELD])
    def upper(value: str) -> str:
        return value.upper()

    @strawberry.type
    class Query:
        hello: str = "hi"

    class LoggingSchema(strawberry.Schema):
        def process_errors(self, errors: Any, execution_context: Any = None) -> None:
            pass

    assert uses_strawberry_pipeline(strawberry.Schema(query=Query, directives=[upper]), None)
    assert uses_strawberry_pipeline(LoggingSchema(query=Query), None)
    assert not uses_strawberry_pipeline(strawberry.Schema(query=Query), None)


def test_the_pipeline_needs_a_strawberry_schema() -> None:
    with pytest.raises(TypeError, match=r"strawberry_pipeline=True needs a strawberry\.Schema"):
        GraphQLServer(ariadne_schema, strawberry_pipeline=True)


# --------------------------------------------------------------------------- in process


class _NoConnection:
    """What a ConnectionContext reads of its connection before connection_init."""

    protocol = None
    connection_init_received = False
    acknowledged = False
    connection_params = None

    def __init__(self) -> None:
        self.operations: dict[OperationId, Any] = {}

    async def close(self, code: int, reason: str) -> None:
        raise AssertionError("not closed in these tests")


def _scope(kind: str) -> dict[str, Any]:
    return {"type": kind, "path": "/graphql", "headers": [(b"x-user", b"ada")]}


def test_default_context_without_starlette(monkeypatch: pytest.MonkeyPatch) -> None:
    """On ASGI without Starlette, ``request`` is the hook context: it has headers too."""
    monkeypatch.setattr(schema_libraries, "_starlette", lambda: None)
    ctx = HTTPContext("POST", Headers(_scope("http")["headers"]), {"scope": _scope("http")})
    context = default_context(ctx)
    assert context == {"request": ctx, "response": ctx.response}
    assert context["request"].headers["x-user"] == "ada"


async def test_resolvers_cannot_use_gqlwires_websocket() -> None:
    ctx = ConnectionContext(_NoConnection(), {"scope": _scope("websocket")}, Headers(()))
    context = default_context(ctx, "1", {"query": "{ hello }"}, None)
    assert context["connection_params"] == {}
    request = context["request"]
    assert request.headers["x-user"] == "ada"
    with pytest.raises(RuntimeError, match="gqlwire owns this WebSocket"):
        await request.receive()
    with pytest.raises(RuntimeError, match="gqlwire owns this WebSocket"):
        await request.accept()
    with pytest.raises(RuntimeError):  # Starlette's own refusal: the socket is not accepted
        await request.send_text("{}")
