"""graphql-sse's handler tests and handler rules, ported to gqlwire's SSE endpoint (on every
server for what servers change): what its reference server answers, byte for byte where
the reference pins bytes.

Each test names the reference test (``handler.test.ts``) or the rule of its handler
(``handler.ts``) it ports. Where gqlwire deliberately differs (the list at the end of
``docs/streams.md``), the test pins gqlwire's documented answer and says so. What the
other stream tests (``test_http_streams.py``, ``test_sse_single.py``) already pin is
not repeated here, except where the reference pins exact bytes they do not.
Validation messages are graphql-core's, which quotes names with ``'`` where graphql-js
uses ``"``.

Event ids are gqlwire's addition (every event carries ``id:``); the comparisons of
exact bytes check that each event has one and then leave them out, as they leave out
the keep-alive comments after the first (the app sends one every half second).
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.apps.sse_single_app import KABOOM, SECRET
from tests.harness.servers import LogWatch, ServerPool, ServerProcess
from tests.harness.streams import SSE, StreamReader, open_stream
from tests.test_sse_single import (
    TOKEN_HEADER,
    WAIT,
    post_operation,
    recorded,
    reserve,
    wait_for_record,
    wait_for_stats,
)

# The handler's rules are gqlwire's own, so most cases run on one server per adapter
# (tests/conftest.py); what each server does with an event stream (streaming it to its
# end, a client that disconnects, a stream opened by one request and fed by others) runs
# on every server.
pytestmark = pytest.mark.per_adapter

APP = "tests.apps.sse_single_app:app"
JSON_UTF8 = "application/json; charset=utf-8"
SSE_UTF8 = "text/event-stream; charset=utf-8"


@pytest.fixture(scope="module")
def proc(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(APP, server_name)


@pytest.fixture(autouse=True)
def log(proc: ServerProcess) -> Iterator[LogWatch]:
    """Fail a test whose requests made the server log an error or a traceback, except
    what it allows."""
    watch = LogWatch(proc)
    yield watch
    watch.assert_clean()


@pytest.fixture
async def http(proc: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=proc.http_url(""), timeout=WAIT) as client:
        yield client


def wire(raw: bytes) -> str:
    """The body as the reference would write it: checked to open with a comment and
    to give every event an ``id:`` line; then without the ids and the later comments."""
    text = raw.decode("utf-8")
    assert text.startswith(":\n\n"), text[:80]
    *blocks, rest = text.split("\n\n")
    kept = [blocks[0]]
    for block in blocks[1:]:
        if block.startswith(":"):
            continue  # a keep-alive comment
        assert re.match(r"id: \d+\n", block), f"an event without an id: {block!r}"
        kept.append(re.sub(r"^id: \d+\n", "", block))
    return "".join(block + "\n\n" for block in kept) + rest


def next_event(data: Any) -> str:
    return f"event: next\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def complete_event(operation_id: str | None = None) -> str:
    if operation_id is None:
        return "event: complete\ndata:\n\n"
    return f'event: complete\ndata: {{"id":"{operation_id}"}}\n\n'


def refusal(response: httpx.Response, status: int, message: str) -> None:
    """``response`` is the reference's refusal: ``status``, a JSON body with one error."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON_UTF8
    assert response.json() == {"errors": [{"message": message}]}


async def read_until(reader: StreamReader, text: str) -> str:
    """Read the stream until its body, as :func:`wire` gives it, ends with ``text``."""
    while len(reader.raw) < 3 or not wire(reader.raw).endswith(text):
        assert await reader.read_more(WAIT), wire(reader.raw)
    return wire(reader.raw)


@contextlib.asynccontextmanager
async def reserved_stream(
    proc: ServerProcess, token: str, *, method: str = "GET", in_query: bool = False
) -> AsyncIterator[StreamReader]:
    """Open the stream of ``token`` (header, or query parameter); no body."""
    headers = {"accept": SSE}
    params = {}
    if in_query:
        params["token"] = token
    else:
        headers[TOKEN_HEADER] = token
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=WAIT, limits=limits) as client:
        request = client.build_request(
            method, proc.http_url("/graphql"), headers=headers, params=params
        )
        response = await client.send(request, stream=True)
        try:
            assert response.status_code == 200, (await response.aread()).decode()
            assert response.headers["content-type"] == SSE_UTF8
            yield StreamReader(response)
        finally:
            await response.aclose()


# -- distinct connections mode -----------------------------------------------------------------


@pytest.mark.every_server
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_distinct_query_streams_then_disconnects(proc: ServerProcess, method: str) -> None:
    """Reference: "distinct connections mode > should stream query operations to
    connected event stream and then disconnect", over GET and over POST: 200, the
    stream's content type, a comment, one ``next``, a ``complete`` with an empty
    ``data:``, and the body ends."""
    url = proc.http_url("/graphql")
    async with open_stream(url, "{ hello }", SSE, method=method) as reader:
        assert reader.status == 200
        assert reader.content_type == SSE_UTF8
        assert reader.response.headers["cache-control"] == "no-cache"
        assert wire(await reader.read_to_end()) == (
            ":\n\n" + next_event({"data": {"hello": "Hello world!"}}) + complete_event()
        )


@pytest.mark.every_server
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_distinct_subscription_streams_then_disconnects(
    proc: ServerProcess, method: str
) -> None:
    """Reference: "distinct connections mode > should stream subscription operations to
    connected event stream and then disconnect": every result a ``next`` in order, then
    ``complete``, then the body ends."""
    url = proc.http_url("/graphql")
    query = {"query": "subscription ($to: Int!) { count(to: $to) }", "variables": {"to": 5}}
    async with open_stream(url, query, SSE, method=method) as reader:
        assert reader.status == 200 and reader.content_type == SSE_UTF8
        events = "".join(next_event({"data": {"count": n}}) for n in range(1, 6))
        assert wire(await reader.read_to_end()) == ":\n\n" + events + complete_event()


async def test_distinct_validation_errors_are_streamed(proc: ServerProcess) -> None:
    """Reference: "distinct connections mode > should report operation validation issues
    by streaming them": 200, a comment, a ``next`` whose data is the errors (exact
    message and location), ``complete``, and the body ends."""
    async with open_stream(proc.http_url("/graphql"), "{ notExists }", SSE) as reader:
        assert reader.status == 200 and reader.content_type == SSE_UTF8
        error = {
            "message": "Cannot query field 'notExists' on type 'Query'.",
            "locations": [{"line": 1, "column": 3}],
        }
        assert wire(await reader.read_to_end()) == (
            ":\n\n" + next_event({"errors": [error]}) + complete_event()
        )


@pytest.mark.every_server
async def test_distinct_subscription_ends_when_the_client_disconnects(
    proc: ServerProcess, http: httpx.AsyncClient
) -> None:
    """Reference: "distinct connections mode > should complete subscription operations
    after client disconnects": the client closing the stream ends the subscription
    (here: its source's ``finally`` runs and the server holds nothing of it)."""
    key = uuid.uuid4().hex
    query = f'subscription {{ tracked(key: "{key}") }}'
    async with open_stream(proc.http_url("/graphql"), query, SSE) as reader:
        await read_until(reader, next_event({"data": {"tracked": "ready"}}))
        await wait_for_record(http, key, "source_start")
    await wait_for_record(http, key, "source_finally")
    assert [e["event"] for e in await recorded(http, key)] == ["source_start", "source_finally"]
    await wait_for_stats(http, operations=0, http_streams=0)


async def test_accept_headers(proc: ServerProcess, http: httpx.AsyncClient) -> None:
    """Reference: "should only accept valid accept headers". With a reservation's token:
    an ``Accept`` that admits nothing served is 406, and ``application/json`` without a
    query is 400 ``Missing query``; without a token, an event stream request without a
    query is 400 ``Missing query`` (JSON, not a stream)."""
    token = await reserve(http)
    response = await http.get("/graphql", headers={"accept": "gibberish", TOKEN_HEADER: token})
    assert response.status_code == 406
    response = await http.get(
        "/graphql", headers={"accept": "application/json", TOKEN_HEADER: token}
    )
    refusal(response, 400, "Missing query")
    response = await http.get("/graphql", headers={"accept": SSE})
    refusal(response, 400, "Missing query")
    async with reserved_stream(proc, token):
        pass  # opened and closed: the reservation leaves nothing behind


async def test_hook_exceptions_answer_the_request(
    proc: ServerProcess, http: httpx.AsyncClient, log: LogWatch
) -> None:
    """Reference: "should bubble onConnect errors to the handler" (and the other hooks
    before a stream starts): the handler's caller gets the error. gqlwire answers it
    (docs/streams.md, "When the stream starts"): 500 with a masked JSON error, no
    stream; and a refusal by ``on_connect`` is 403."""
    log.allow(re.escape(SECRET))
    for method in ("GET", "POST"):
        headers = {"accept": SSE, "x-user": "explode"}
        async with open_stream(
            proc.http_url("/graphql"), "{ hello }", SSE, method=method, headers=headers
        ) as reader:
            body = (await reader.read_to_end()).decode()
            assert reader.status == 500 and reader.content_type.startswith("application/json")
            assert SECRET not in body and json.loads(body)["errors"]
    response = await http.post(
        "/graphql", json={"query": "{ hello }"}, headers={"accept": SSE, "x-user": "stranger"}
    )
    assert response.status_code == 403


# -- single connection mode ----------------------------------------------------------------------


async def test_unregistered_tokens_are_404(http: httpx.AsyncClient) -> None:
    """Reference: "single connection mode > should respond with 404s when token was not
    previously registered": a ``POST`` with the token header, a ``GET`` and a ``DELETE``
    with the token parameter, each 404 ``Stream not found`` as JSON."""
    refusal(await http.post("/graphql", headers={TOKEN_HEADER: "0"}), 404, "Stream not found")
    refusal(await http.get("/graphql", params={"token": "0"}), 404, "Stream not found")
    refusal(await http.delete("/graphql", params={"token": "0"}), 404, "Stream not found")


async def test_put_returns_a_token(proc: ServerProcess, http: httpx.AsyncClient) -> None:
    """Reference: "single connection mode > should get a token with PUT request": 201,
    the token as the body, ``text/plain; charset=utf-8``. (The reference's test has its
    ``authenticate`` choose the token; gqlwire always chooses it, a documented
    difference.)"""
    response = await http.put("/graphql")
    assert response.status_code == 201
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text
    async with reserved_stream(proc, response.text):
        pass


async def test_event_stream_without_a_reservation(http: httpx.AsyncClient) -> None:
    """Reference: "single connection mode > should treat event streams without
    reservations as regular requests" (400 ``Missing query``). gqlwire differs, as
    docs/streams.md says: an event stream request whose token names nothing and which
    carries no operation is 404 ``Stream not found``; one that carries an operation is a
    distinct connections request, as in the reference."""
    response = await http.get("/graphql", headers={"accept": SSE, TOKEN_HEADER: "0"})
    refusal(response, 404, "Stream not found")
    response = await http.get(
        "/graphql", params={"query": "{ hello }"}, headers={"accept": SSE, TOKEN_HEADER: "0"}
    )
    assert response.status_code == 200 and response.headers["content-type"] == SSE_UTF8
    assert wire(response.content) == (
        ":\n\n" + next_event({"data": {"hello": "Hello world!"}}) + complete_event()
    )


@pytest.mark.every_server
@pytest.mark.parametrize("in_query", [False, True], ids=["header", "query"])
async def test_event_streams_on_reservations(
    proc: ServerProcess, http: httpx.AsyncClient, in_query: bool
) -> None:
    """Reference: "single connection mode > should allow event streams on reservations":
    the token in the header or in the ``token`` parameter opens the stream (200, the
    event stream type, a comment first)."""
    token = await reserve(http)
    async with reserved_stream(proc, token, in_query=in_query) as reader:
        while len(reader.raw) < 3:
            assert await reader.read_more(WAIT)
        assert reader.raw.startswith(b":\n\n")


async def test_an_operation_needs_an_id(proc: ServerProcess, http: httpx.AsyncClient) -> None:
    """Reference: "single connection mode > should not allow operations without providing
    an operation id": 400 ``Operation ID is missing``."""
    token = await reserve(http)
    async with reserved_stream(proc, token):
        response = await post_operation(http, token, "{ hello }")
        refusal(response, 400, "Operation ID is missing")


async def test_a_query_streams_to_the_stream_opened_by_post(
    proc: ServerProcess, http: httpx.AsyncClient
) -> None:
    """Reference: "single connection mode > should stream query operations to connected
    event stream": the stream opened by a ``POST`` (no body); the operation's request
    is 202 with an empty body; the stream carries a comment, ``next`` with the id and
    the payload, ``complete`` with the id."""
    token = await reserve(http)
    async with reserved_stream(proc, token, method="POST") as reader:
        response = await post_operation(http, token, "{ hello }", "1")
        assert response.status_code == 202 and response.content == b""
        expected = (
            ":\n\n"
            + next_event({"id": "1", "payload": {"data": {"hello": "Hello world!"}}})
            + complete_event("1")
        )
        assert await read_until(reader, complete_event("1")) == expected


@pytest.mark.every_server
async def test_a_subscription_streams_to_the_stream(
    proc: ServerProcess, http: httpx.AsyncClient
) -> None:
    """Reference: "single connection mode > should stream subscription operations to
    connected event stream": the stream opened with the token parameter, a comment
    first; then each result a ``next`` with the id, in order, and ``complete`` with the
    id; the stream stays open for the next operation."""
    token = await reserve(http)
    async with reserved_stream(proc, token, in_query=True) as reader:
        while len(reader.raw) < 3:
            assert await reader.read_more(WAIT)
        assert wire(reader.raw) == ":\n\n"
        query = "subscription ($to: Int!) { count(to: $to) }"
        response = await post_operation(http, token, query, "1", variables={"to": 5})
        assert response.status_code == 202
        events = "".join(
            next_event({"id": "1", "payload": {"data": {"count": n}}}) for n in range(1, 6)
        )
        assert await read_until(reader, complete_event("1")) == ":\n\n" + events + complete_event(
            "1"
        )
        assert (await post_operation(http, token, "{ hello }", "2")).status_code == 202
        await read_until(reader, complete_event("2"))


async def test_validation_errors_answer_the_operation_request(
    proc: ServerProcess, http: httpx.AsyncClient
) -> None:
    """Reference: "single connection mode > should report validation issues to operation
    request": 400 with the errors (exact message and location) as JSON; the stream
    stays open and carries nothing of it (the next operation's events come first)."""
    token = await reserve(http)
    async with reserved_stream(proc, token) as reader:
        response = await post_operation(http, token, "subscription { notExists }", "1")
        assert response.status_code == 400
        assert response.headers["content-type"] == JSON_UTF8
        assert response.json() == {
            "errors": [
                {
                    "message": "Cannot query field 'notExists' on type 'Subscription'.",
                    "locations": [{"line": 1, "column": 16}],
                }
            ]
        }
        assert (await post_operation(http, token, "{ hello }", "2")).status_code == 202
        assert await read_until(reader, complete_event("2")) == (
            ":\n\n"
            + next_event({"id": "2", "payload": {"data": {"hello": "Hello world!"}}})
            + complete_event("2")
        )


async def test_subscription_errors_go_to_the_stream(
    proc: ServerProcess, http: httpx.AsyncClient, log: LogWatch
) -> None:
    """Reference: "single connection mode > should report subscription errors to the
    stream": a subscription whose subscribe function raises is accepted (202), and its
    error (message, location, path; no ``data``) is a ``next`` on the stream, then its
    ``complete``."""
    log.allow(re.escape(KABOOM))
    token = await reserve(http)
    async with reserved_stream(proc, token) as reader:
        response = await post_operation(http, token, "subscription { throwing }", "1")
        assert response.status_code == 202
        error = {"message": KABOOM, "locations": [{"line": 1, "column": 16}], "path": ["throwing"]}
        assert await read_until(reader, complete_event("1")) == (
            ":\n\n" + next_event({"id": "1", "payload": {"errors": [error]}}) + complete_event("1")
        )


@pytest.mark.every_server
async def test_delete_ends_the_operation_with_its_complete(
    proc: ServerProcess, http: httpx.AsyncClient
) -> None:
    """Handler rule (``DELETE``): the operation's source is returned and the request
    answered 200 with no body; the source ending makes the handler send the
    operation's ``complete`` (here after its cleanup ran). The stream goes on."""
    key = uuid.uuid4().hex
    token = await reserve(http)
    async with reserved_stream(proc, token) as reader:
        query = f'subscription {{ tracked(key: "{key}") }}'
        assert (await post_operation(http, token, query, "1")).status_code == 202
        ready = next_event({"id": "1", "payload": {"data": {"tracked": "ready"}}})
        await read_until(reader, ready)
        response = await http.delete(
            "/graphql", params={"operationId": "1"}, headers={TOKEN_HEADER: token}
        )
        assert response.status_code == 200 and response.content == b""
        assert [e["event"] for e in await recorded(http, key)] == ["source_start", "source_finally"]
        assert await read_until(reader, complete_event("1")) == ":\n\n" + ready + complete_event(
            "1"
        )
        assert (await post_operation(http, token, "{ hello }", "2")).status_code == 202
        await read_until(reader, complete_event("2"))


async def test_other_methods_with_a_token_are_405(
    proc: ServerProcess, http: httpx.AsyncClient
) -> None:
    """Handler rule: with a token, a method other than ``GET``, ``POST``, ``PUT`` and
    ``DELETE`` is 405 with ``Allow: GET, POST, PUT, DELETE``."""
    token = await reserve(http)
    async with reserved_stream(proc, token):  # opened: it leaves no reservation behind
        for method in ("PATCH", "OPTIONS"):
            response = await http.request(method, "/graphql", headers={TOKEN_HEADER: token})
            assert response.status_code == 405, method
            assert response.headers["allow"] == "GET, POST, PUT, DELETE"


async def test_an_operation_request_must_accept_json(
    proc: ServerProcess, http: httpx.AsyncClient
) -> None:
    """Handler rule: an operation's request (with the token) whose ``Accept`` admits no
    JSON (``*/*``, ``application/*``, ``application/json`` do) is 406; one that admits
    it is accepted. The token is looked up first: with one that names nothing, the
    answer is 404 whatever ``Accept`` says."""
    response = await post_operation(http, "0", "{ hello }", "1", headers={"accept": "text/html"})
    refusal(response, 404, "Stream not found")
    token = await reserve(http)
    async with reserved_stream(proc, token) as reader:
        response = await post_operation(
            http, token, "{ hello }", "1", headers={"accept": "text/html"}
        )
        assert response.status_code == 406
        for number, accept in enumerate(("*/*", "application/*", "application/json"), start=2):
            response = await post_operation(
                http, token, "{ hello }", str(number), headers={"accept": accept}
            )
            assert response.status_code == 202, accept
            await read_until(reader, complete_event(str(number)))


async def test_the_token_header_comes_before_the_parameter(
    proc: ServerProcess, http: httpx.AsyncClient
) -> None:
    """Handler rule (its default ``authenticate``): the token is the
    ``X-GraphQL-Event-Stream-Token`` header's, else the ``token`` parameter's."""
    token = await reserve(http)
    async with reserved_stream(proc, token) as reader:
        response = await http.post(
            "/graphql",
            params={"token": "0"},
            json={"query": "{ hello }", "extensions": {"operationId": "1"}},
            headers={TOKEN_HEADER: token},
        )
        assert response.status_code == 202
        await read_until(reader, complete_event("1"))
        response = await http.post(
            "/graphql",
            params={"token": token},
            json={"query": "{ hello }", "extensions": {"operationId": "2"}},
            headers={TOKEN_HEADER: "0"},
        )
        refusal(response, 404, "Stream not found")


@pytest.mark.parametrize(
    "body",
    [
        {"query": 1},
        {"query": "{ hello }", "variables": [1]},
        {"query": "{ hello }", "extensions": "x"},
        [{"query": "{ hello }"}],
    ],
    ids=["query", "variables", "extensions", "not-an-object"],
)
async def test_distinct_request_parameters_that_cannot_be_read(
    http: httpx.AsyncClient, body: Any
) -> None:
    """Handler rule (reading the request): a query that is not a string, variables or
    extensions that are not objects, a body that is not an object: 400 with a JSON
    error, no stream."""
    response = await http.post("/graphql", json=body, headers={"accept": SSE})
    assert response.status_code == 400
    assert response.headers["content-type"] == JSON_UTF8
    assert response.json()["errors"][0]["message"]


async def test_distinct_post_that_is_not_json_is_415(http: httpx.AsyncClient) -> None:
    """Handler rule (reading the request): a ``POST`` whose content type is not JSON is
    415."""
    response = await http.post(
        "/graphql",
        content=b"query={ hello }",
        headers={"accept": SSE, "content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415


async def test_an_operation_that_cannot_be_chosen_is_400(http: httpx.AsyncClient) -> None:
    """Handler rule: a document whose operation cannot be found (an unknown
    ``operationName``, or several operations and none named) is 400 with a JSON error,
    before any stream."""
    for body in (
        {"query": "query A { hello }", "operationName": "B"},
        {"query": "query A { hello } query B { hello }"},
    ):
        response = await http.post("/graphql", json=body, headers={"accept": SSE})
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == JSON_UTF8
        assert response.json()["errors"][0]["message"]


async def test_multiline_results_are_one_data_line(
    proc: ServerProcess, http: httpx.AsyncClient
) -> None:
    """Reference client test "should accept and handle multiline responses": a result
    holding line breaks reaches the client whole. The server writes each event's data
    as one line of JSON (line breaks escaped), in both modes."""
    document = "query ($n: String!) { hello(name: $n) }"
    variables = {"n": "some\n\nthing"}
    query = {"query": document, "variables": variables}
    result = {"data": {"hello": "Hello some\n\nthing!"}}
    async with open_stream(proc.http_url("/graphql"), query, SSE) as reader:
        assert wire(await reader.read_to_end()) == ":\n\n" + next_event(result) + complete_event()
    token = await reserve(http)
    async with reserved_stream(proc, token) as reader:
        response = await post_operation(http, token, document, "1", variables=variables)
        assert response.status_code == 202
        assert await read_until(reader, complete_event("1")) == (
            ":\n\n" + next_event({"id": "1", "payload": result}) + complete_event("1")
        )


async def test_an_event_stream_request_with_a_reserved_token_opens_that_stream(
    proc: ServerProcess, http: httpx.AsyncClient
) -> None:
    """Handler rule: an event stream request whose token names a reservation opens that
    reservation's stream, whatever operation it also carries (the operation is not
    run); the stream then carries only what is posted to it."""
    token = await reserve(http)
    async with open_stream(
        proc.http_url("/graphql"),
        "{ hello }",
        SSE,
        method="GET",
        headers={TOKEN_HEADER: token},
    ) as reader:
        assert reader.status == 200 and reader.content_type == SSE_UTF8
        assert (
            await post_operation(http, token, "{ whoami { operationId } }", "1")
        ).status_code == 202
        assert await read_until(reader, complete_event("1")) == (
            ":\n\n"
            + next_event({"id": "1", "payload": {"data": {"whoami": {"operationId": "1"}}}})
            + complete_event("1")
        )


async def test_distinct_subscription_whose_source_cannot_start(
    proc: ServerProcess, log: LogWatch
) -> None:
    """Handler rule (distinct connections mode): a subscription whose subscribe function
    raises has a result, not a stream, and it is streamed as one ``next`` with the error
    (message, location, path; no ``data``), then ``complete``."""
    log.allow(re.escape(KABOOM))
    async with open_stream(proc.http_url("/graphql"), "subscription { throwing }", SSE) as reader:
        assert reader.status == 200 and reader.content_type == SSE_UTF8
        error = {"message": KABOOM, "locations": [{"line": 1, "column": 16}], "path": ["throwing"]}
        assert wire(await reader.read_to_end()) == (
            ":\n\n" + next_event({"errors": [error]}) + complete_event()
        )


async def test_an_operation_request_that_is_not_json_is_415(
    proc: ServerProcess, http: httpx.AsyncClient
) -> None:
    """Handler rule (reading the request), single connection mode: with a token that
    names a stream, a ``POST`` that is not JSON is 415, with a body or without one."""
    token = await reserve(http)
    async with reserved_stream(proc, token):
        for content in (b"query={ hello }", b""):
            response = await http.post(
                "/graphql",
                content=content,
                headers={TOKEN_HEADER: token, "content-type": "text/plain"},
            )
            assert response.status_code == 415, content
        response = await http.post("/graphql", headers={TOKEN_HEADER: token})
        assert response.status_code == 415
