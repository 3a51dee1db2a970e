"""GraphQL over SSE, single connection mode (graphql-sse's PROTOCOL.md), on every server
for what servers change.

A client reserves a stream (``PUT``: 201 and a token), opens it (an event stream
request with the token), posts operations with the token and an
``extensions.operationId`` (202), and stops one with ``DELETE ?operationId=``; the
stream carries ``next`` (``{"id", "payload"}``) and ``complete`` (``{"id"}``) events of
every operation. The app is ``tests/apps/sse_single_app.py``; its paths are configured
there. Every test checks that the server logged nothing unexpected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.apps.sse_single_app import (
    EXPLODING_USER,
    KEEP_ALIVE,
    SECRET,
    SHORT_RESERVATION,
    STRANGER,
)
from tests.harness.servers import ServerPool, ServerProcess, find_tracebacks, start_server

# The protocol's rules are gqlwire's own, so most cases run on one server per adapter
# (tests/conftest.py); what each server does with a long-lived stream (operations fed
# into it from other requests, a client closing it, a shutdown) runs on every server.
pytestmark = pytest.mark.per_adapter

APP = "tests.apps.sse_single_app:app"
TOKEN_HEADER = "x-graphql-event-stream-token"
WAIT = 5.0


@pytest.fixture(scope="module")
def proc(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(APP, server_name)


@pytest.fixture(autouse=True)
def clean_log(proc: ServerProcess) -> Iterator[list[str]]:
    """Fail a test whose requests made the server log an error or a traceback, except
    those matching the patterns a test appends."""
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


@pytest.fixture
async def http(proc: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=proc.http_url(""), timeout=WAIT) as client:
        yield client


# -- a small SSE reader ----------------------------------------------------------------------


@dataclass
class Event:
    event: str
    data: Any
    id: str | None


@dataclass
class EventStream:
    """An open event stream: its events, read as they come."""

    response: httpx.Response
    lines: AsyncIterator[str]
    comments: int = 0
    seen: list[Event] = field(default_factory=list)

    async def next_event(self, within: float = WAIT) -> Event | None:
        """The next event, or ``None`` when the stream ended."""
        name, event_id = "message", None
        data: list[str] = []
        async with asyncio.timeout(within):
            async for line in self.lines:
                if line == "":
                    if data:
                        event = Event(
                            name, json.loads("\n".join(data)) if data[0] else None, event_id
                        )
                        self.seen.append(event)
                        return event
                    name, event_id = "message", None
                    continue
                if line.startswith(":"):
                    self.comments += 1
                    continue
                field_name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field_name == "event":
                    name = value
                elif field_name == "data":
                    data.append(value)
                elif field_name == "id":
                    event_id = value
            return None

    async def read_comments(self, count: int) -> None:
        """Read until ``count`` comments (keep-alives) have come, events ignored."""
        async with asyncio.timeout(WAIT):
            async for line in self.lines:
                if line.startswith(":"):
                    self.comments += 1
                    if self.comments >= count:
                        return

    async def events_of(self, operation_id: str) -> list[tuple[str, Any]]:
        """Read until ``operation_id`` completes; its events (``next`` payloads, then
        ``("complete", None)``)."""
        trace: list[tuple[str, Any]] = []
        while True:
            event = await self.next_event()
            assert event is not None, f"the stream ended before {operation_id} completed"
            if event.data.get("id") != operation_id:
                continue
            if event.event == "next":
                trace.append(("next", event.data["payload"]))
            else:
                trace.append((event.event, None))
                return trace


async def reserve(http: httpx.AsyncClient, path: str = "/graphql", **headers: str) -> str:
    response = await http.put(path, headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


@contextlib.asynccontextmanager
async def open_stream(
    http: httpx.AsyncClient, token: str, path: str = "/graphql", *, in_query: bool = False
) -> AsyncIterator[EventStream]:
    headers = {"accept": "text/event-stream"}
    params = {}
    if in_query:
        params["token"] = token
    else:
        headers[TOKEN_HEADER] = token
    async with http.stream("GET", path, headers=headers, params=params) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield EventStream(response, response.aiter_lines())


async def post_operation(
    http: httpx.AsyncClient,
    token: str,
    query: str,
    operation_id: Any = None,
    path: str = "/graphql",
    *,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"query": query}
    if variables:
        body["variables"] = variables
    if operation_id is not None:
        body["extensions"] = {"operationId": operation_id}
    return await http.post(
        path,
        content=json.dumps(body),
        headers={"content-type": "application/json", TOKEN_HEADER: token, **(headers or {})},
    )


async def stats(http: httpx.AsyncClient, route: str = "/graphql") -> dict[str, int]:
    response = await http.get("/_stats", params={"route": route})
    return dict(response.json())


async def wait_for_stats(
    http: httpx.AsyncClient, route: str = "/graphql", **expected: int
) -> dict[str, int]:
    """Poll ``stats()`` until it shows ``expected``."""
    async with asyncio.timeout(WAIT):
        while True:
            current = await stats(http, route)
            if all(current.get(name) == value for name, value in expected.items()):
                return current
            await asyncio.sleep(0.02)


async def recorded(http: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    response = await http.get("/_events", params={"key": key})
    return list(response.json())


async def wait_for_record(http: httpx.AsyncClient, key: str, event: str, count: int = 1) -> None:
    async with asyncio.timeout(WAIT):
        while True:  # polled: the record is in the server process
            if sum(1 for e in await recorded(http, key) if e["event"] == event) >= count:
                return
            await asyncio.sleep(0.02)


def error_message(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/json")
    return str(response.json()["errors"][0]["message"])


# -- reservations ----------------------------------------------------------------------------


async def test_put_reserves_a_stream_with_an_unguessable_token(http: httpx.AsyncClient) -> None:
    first, second = await reserve(http), await reserve(http)
    assert first != second and len(first) >= 32
    # A token the client names is ignored: the server chooses every token.
    response = await http.put("/graphql", headers={TOKEN_HEADER: "mine"})
    assert response.status_code == 201 and response.text not in ("mine", first, second)
    for token in (first, second, response.text):
        async with open_stream(http, token):
            pass


async def test_put_answers_406_unless_plain_text_is_acceptable(http: httpx.AsyncClient) -> None:
    response = await http.put("/graphql", headers={"accept": "application/json"})
    assert response.status_code == 406
    response = await http.put("/graphql", headers={"accept": "text/*"})
    assert response.status_code == 201
    async with open_stream(http, response.text):
        pass  # tests leave no reservation behind


@pytest.mark.every_server
async def test_a_query_runs_on_the_stream(http: httpx.AsyncClient) -> None:
    token = await reserve(http)
    async with open_stream(http, token) as stream:
        response = await post_operation(http, token, "{ hello }", "q1")
        assert response.status_code == 202 and response.content == b""
        assert await stream.events_of("q1") == [
            ("next", {"data": {"hello": "Hello world!"}}),
            ("complete", None),
        ]
        assert stream.comments >= 1  # the first bytes are a comment
        ids = [event.id for event in stream.seen]
        assert all(ids) and len(set(ids)) == len(ids)  # every event has its own id
    await wait_for_stats(http, sse_streams=0, sse_operations=0)


@pytest.mark.every_server
async def test_the_token_may_be_a_query_parameter(http: httpx.AsyncClient) -> None:
    token = await reserve(http)
    async with open_stream(http, token, in_query=True) as stream:
        response = await http.post(
            "/graphql",
            params={"token": token},
            content=json.dumps({"query": "{ hello }", "extensions": {"operationId": "a"}}),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 202
        assert (await stream.events_of("a"))[0] == ("next", {"data": {"hello": "Hello world!"}})
        # A query may also be sent with GET, its token in the query string.
        response = await http.get(
            "/graphql",
            params={
                "token": token,
                "query": "query ($n: String!) { hello(name: $n) }",
                "variables": json.dumps({"n": "get"}),
                "extensions": json.dumps({"operationId": "b"}),
            },
        )
        assert response.status_code == 202
        assert (await stream.events_of("b"))[0] == ("next", {"data": {"hello": "Hello get!"}})


async def test_operations_posted_before_the_stream_opens_wait_for_it(
    http: httpx.AsyncClient,
) -> None:
    token = await reserve(http)
    response = await post_operation(http, token, "{ hello }", "early")
    assert response.status_code == 202
    async with open_stream(http, token) as stream:
        assert await stream.events_of("early") == [
            ("next", {"data": {"hello": "Hello world!"}}),
            ("complete", None),
        ]


@pytest.mark.every_server
async def test_several_operations_share_one_stream(http: httpx.AsyncClient) -> None:
    token = await reserve(http)
    async with open_stream(http, token) as stream:
        for name, to in (("s1", 3), ("s2", 2)):
            query = "subscription ($to: Int!) { count(to: $to) }"
            response = await post_operation(http, token, query, name, variables={"to": to})
            assert response.status_code == 202
        assert (await post_operation(http, token, "{ hello }", "q")).status_code == 202
        seen: dict[str, list[Any]] = {"s1": [], "s2": [], "q": []}
        completed: set[str] = set()
        while completed != set(seen):
            event = await stream.next_event()
            assert event is not None
            key = event.data["id"]
            if event.event == "complete":
                completed.add(key)
            else:
                seen[key].append(event.data["payload"]["data"])
        assert seen == {
            "s1": [{"count": 1}, {"count": 2}, {"count": 3}],
            "s2": [{"count": 1}, {"count": 2}],
            "q": [{"hello": "Hello world!"}],
        }


# -- refusals, as graphql-sse's handler answers them -----------------------------------------


async def test_an_unknown_token_is_404_everywhere(http: httpx.AsyncClient) -> None:
    headers = {"accept": "text/event-stream", TOKEN_HEADER: "nope"}
    response = await http.get("/graphql", headers=headers)
    assert response.status_code == 404 and error_message(response) == "Stream not found"
    response = await post_operation(http, "nope", "{ hello }", "x")
    assert response.status_code == 404 and error_message(response) == "Stream not found"
    response = await http.delete("/graphql", params={"operationId": "x", "token": "nope"})
    assert response.status_code == 404 and error_message(response) == "Stream not found"


async def test_a_stream_opens_once(http: httpx.AsyncClient) -> None:
    token = await reserve(http)
    async with open_stream(http, token):
        response = await http.get(
            "/graphql", headers={"accept": "text/event-stream", TOKEN_HEADER: token}
        )
        assert response.status_code == 409 and error_message(response) == "Stream already open"
    # Once closed, the token names nothing any more.
    await wait_for_stats(http, sse_streams=0)
    response = await http.get(
        "/graphql", headers={"accept": "text/event-stream", TOKEN_HEADER: token}
    )
    assert response.status_code == 404


async def test_operation_ids(http: httpx.AsyncClient) -> None:
    token = await reserve(http)
    async with open_stream(http, token):
        response = await post_operation(http, token, "{ hello }")
        assert response.status_code == 400 and error_message(response) == "Operation ID is missing"
        query = 'subscription { tracked(key: "ids") }'
        assert (await post_operation(http, token, query, "same")).status_code == 202
        response = await post_operation(http, token, "{ hello }", "same")
        assert response.status_code == 409
        assert error_message(response) == "Operation with ID already exists"
        response = await http.delete("/graphql", headers={TOKEN_HEADER: token})
        assert response.status_code == 400 and error_message(response) == "Operation ID is missing"


async def test_request_errors_answer_the_post(http: httpx.AsyncClient) -> None:
    token = await reserve(http)
    async with open_stream(http, token) as stream:
        response = await post_operation(http, token, "{ nope }", "v")
        assert response.status_code == 400
        assert "nope" in error_message(response)
        response = await post_operation(http, token, "{ hello", "s")
        assert response.status_code == 400 and "Syntax Error" in error_message(response)
        response = await http.post(
            "/graphql",
            content=b"{not json",
            headers={"content-type": "application/json", TOKEN_HEADER: token},
        )
        assert response.status_code == 400
        response = await http.get(
            "/graphql",
            params={
                "token": token,
                "query": "mutation { touch }",
                "extensions": json.dumps({"operationId": "m"}),
            },
        )
        assert response.status_code == 405 and response.headers["allow"] == "POST"
        # The ids of refused operations are free again, and the stream still works.
        assert (await post_operation(http, token, "{ hello }", "v")).status_code == 202
        assert (await stream.events_of("v"))[0] == ("next", {"data": {"hello": "Hello world!"}})


async def test_errors_after_execution_began_go_to_the_stream(
    http: httpx.AsyncClient, clean_log: list[str]
) -> None:
    clean_log.extend(["resolver failed", "the source failed"])
    token = await reserve(http)
    async with open_stream(http, token) as stream:
        assert (await post_operation(http, token, "{ broken }", "b")).status_code == 202
        [(kind, payload), end] = await stream.events_of("b")
        assert kind == "next" and payload["data"] == {"broken": None}
        assert payload["errors"][0]["message"] == "resolver failed" and end[0] == "complete"
        assert (
            await post_operation(http, token, "subscription { failing }", "f")
        ).status_code == 202
        trace = await stream.events_of("f")
        assert trace[0] == ("next", {"data": {"failing": "one"}})
        assert trace[1][0] == "next" and "errors" in trace[1][1]
        assert trace[2] == ("complete", None)


# -- stopping ----------------------------------------------------------------------------------


@pytest.mark.every_server
async def test_delete_stops_one_operation_and_its_cleanup_is_done(
    http: httpx.AsyncClient,
) -> None:
    key = uuid.uuid4().hex
    token = await reserve(http)
    async with open_stream(http, token) as stream:
        query = f'subscription {{ tracked(key: "{key}") }}'
        assert (await post_operation(http, token, query, "t")).status_code == 202
        assert (await stream.next_event()) is not None
        await wait_for_record(http, key, "source_start")
        response = await http.delete(
            "/graphql", params={"operationId": "t"}, headers={TOKEN_HEADER: token}
        )
        assert response.status_code == 200
        # The source's finally ran before the DELETE was answered.
        assert [e["event"] for e in await recorded(http, key)] == ["source_start", "source_finally"]
        await wait_for_stats(http, sse_streams=1, sse_operations=0)
        # An id that runs nothing (any more) is no error.
        response = await http.delete(
            "/graphql", params={"operationId": "t"}, headers={TOKEN_HEADER: token}
        )
        assert response.status_code == 200
        # The stream goes on.
        assert (await post_operation(http, token, "{ hello }", "after")).status_code == 202
        assert (await stream.events_of("after"))[0][0] == "next"


@pytest.mark.every_server
async def test_closing_the_stream_ends_all_its_operations(http: httpx.AsyncClient) -> None:
    key = uuid.uuid4().hex
    token = await reserve(http)
    async with open_stream(http, token):
        for name in ("a", "b"):
            query = f'subscription {{ tracked(key: "{key}") }}'
            assert (await post_operation(http, token, query, name)).status_code == 202
        await wait_for_record(http, key, "source_start", 2)
        await wait_for_stats(http, sse_streams=1, sse_operations=2)
    await wait_for_record(http, key, "source_finally", 2)
    await wait_for_stats(http, sse_streams=0, sse_operations=0, operations=0, http_streams=0)


async def test_a_reservation_never_opened_expires(http: httpx.AsyncClient) -> None:
    key = uuid.uuid4().hex
    token = await reserve(http, "/short")
    query = f'subscription {{ tracked(key: "{key}") }}'
    assert (await post_operation(http, token, query, "t", "/short")).status_code == 202
    await wait_for_record(http, key, "source_start")
    # Never opened: it expires, and what was posted to it ends.
    await wait_for_stats(http, "/short", sse_streams=0, sse_operations=0)
    await wait_for_record(http, key, "source_finally")
    response = await post_operation(http, token, "{ hello }", "late", "/short")
    assert response.status_code == 404 and error_message(response) == "Stream not found"
    response = await http.get(
        "/short", headers={"accept": "text/event-stream", TOKEN_HEADER: token}
    )
    assert response.status_code == 404


@pytest.mark.every_server
async def test_an_open_stream_does_not_expire(http: httpx.AsyncClient) -> None:
    token = await reserve(http, "/short")
    async with open_stream(http, token, "/short") as stream:
        # Keep-alive comments until past the reservation timeout.
        await stream.read_comments(1 + math.ceil(SHORT_RESERVATION / KEEP_ALIVE) + 1)
        assert (await post_operation(http, token, "{ hello }", "q", "/short")).status_code == 202


# -- limits --------------------------------------------------------------------------------------


async def test_limits_on_streams_and_operations(http: httpx.AsyncClient) -> None:
    first, _second = await reserve(http, "/limited"), await reserve(http, "/limited")
    response = await http.put("/limited")
    assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
    async with open_stream(http, first, "/limited"):
        for name in ("a", "b"):
            query = f'subscription {{ tracked(key: "limit-{name}") }}'
            assert (await post_operation(http, first, query, name, "/limited")).status_code == 202
        response = await post_operation(http, first, "{ hello }", "c", "/limited")
        assert response.status_code == 429
        assert "Too many operations" in error_message(response)


async def test_max_operations_counts_the_operations_on_streams(http: httpx.AsyncClient) -> None:
    key = uuid.uuid4().hex
    token = await reserve(http, "/capped")
    async with open_stream(http, token, "/capped") as stream:
        query = f'subscription {{ tracked(key: "{key}") }}'
        assert (await post_operation(http, token, query, "a", "/capped")).status_code == 202
        response = await post_operation(http, token, "{ hello }", "b", "/capped")
        assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
        assert "Operation limit reached" in error_message(response)
        await http.delete("/capped", params={"operationId": "a"}, headers={TOKEN_HEADER: token})
        assert (await post_operation(http, token, "{ hello }", "b", "/capped")).status_code == 202
        assert (await stream.events_of("b"))[0][0] == "next"


# -- hooks and context ---------------------------------------------------------------------------


async def test_on_connect_runs_for_every_request_with_an_sse_context(
    http: httpx.AsyncClient,
) -> None:
    key = uuid.uuid4().hex
    token = await reserve(http, **{"x-key": key})
    async with open_stream(http, token) as stream:
        response = await post_operation(
            http,
            token,
            "{ whoami { transport user operationId } }",
            "w",
            headers={"x-key": key, "x-user": "ann"},
        )
        assert response.status_code == 202
        assert (await stream.events_of("w"))[0] == (
            "next",
            {"data": {"whoami": {"transport": "sse", "user": "ann", "operationId": "w"}}},
        )
        response = await http.delete(
            "/graphql", params={"operationId": "w"}, headers={TOKEN_HEADER: token, "x-key": key}
        )
        assert response.status_code == 200
    assert [(e["transport"], e["method"]) for e in await recorded(http, key)] == [
        ("sse", "PUT"),
        ("sse", "POST"),
        ("sse", "DELETE"),
    ]


async def test_on_connect_refuses_and_fails_on_every_request(
    http: httpx.AsyncClient, clean_log: list[str]
) -> None:
    clean_log.append(re.escape(SECRET))
    assert (await http.put("/graphql", headers={"x-user": STRANGER})).status_code == 403
    token = await reserve(http)
    stranger = {"x-user": STRANGER}
    response = await http.get(
        "/graphql", headers={"accept": "text/event-stream", TOKEN_HEADER: token, **stranger}
    )
    assert response.status_code == 403
    response = await post_operation(http, token, "{ hello }", "x", headers=stranger)
    assert response.status_code == 403
    response = await http.delete(
        "/graphql", params={"operationId": "x"}, headers={TOKEN_HEADER: token, **stranger}
    )
    assert response.status_code == 403
    response = await http.put("/graphql", headers={"x-user": EXPLODING_USER})
    assert response.status_code == 500 and SECRET not in response.text
    async with open_stream(http, token):
        pass


async def test_shared_subscriptions_on_streams(http: httpx.AsyncClient) -> None:
    key = uuid.uuid4().hex
    query = f'subscription {{ tracked(key: "{key}") }}'
    first, second = await reserve(http, "/shared"), await reserve(http, "/shared")
    async with (
        open_stream(http, first, "/shared") as one,
        open_stream(http, second, "/shared") as two,
    ):
        assert (await post_operation(http, first, query, "t", "/shared")).status_code == 202
        event = await one.next_event()
        assert event is not None
        assert event.data == {"id": "t", "payload": {"data": {"tracked": "ready"}}}
        # The second joins the first's source (and gets its later events).
        assert (await post_operation(http, second, query, "t", "/shared")).status_code == 202
        await wait_for_stats(http, "/shared", shared_groups=1, shared_members=2)
        assert [e["event"] for e in await recorded(http, key)] == ["source_start"]
        del two
    await wait_for_record(http, key, "source_finally")
    await wait_for_stats(http, "/shared", sse_streams=0, shared_groups=0, operations=0)


async def test_single_connection_mode_is_off_by_default(http: httpx.AsyncClient) -> None:
    response = await http.put("/off")
    assert response.status_code == 405
    # The distinct connections mode and plain HTTP are unchanged with it on.
    response = await http.post(
        "/graphql",
        content=json.dumps({"query": "{ hello }"}),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200 and response.json() == {"data": {"hello": "Hello world!"}}


# -- shutdown ----------------------------------------------------------------------------------


@pytest.mark.every_server
async def test_shutdown_ends_an_open_stream(server_name: str) -> None:
    if server_name == "granian":
        pytest.xfail(
            "granian's worker waits for open HTTP responses before it runs the lifespan's "
            "shutdown, and gives the application no other stop signal: the stream ends "
            "only when granian kills the worker (docs/streams.md)"
        )
    proc = start_server(APP, server_name)
    try:
        async with httpx.AsyncClient(base_url=proc.http_url(""), timeout=WAIT) as http:
            token = await reserve(http)
            async with open_stream(http, token) as stream:
                query = 'subscription { tracked(key: "shutdown") }'
                assert (await post_operation(http, token, query, "t")).status_code == 202
                assert await stream.next_event() is not None
                proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(httpx.HTTPError):
                    while await stream.next_event(within=WAIT) is not None:
                        pass
        assert proc.wait(timeout=WAIT * 2) is not None
    finally:
        proc.stop()
