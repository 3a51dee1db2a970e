"""Streamed HTTP responses: GraphQL over Server-Sent Events (graphql-sse's distinct
connections mode), Apollo's multipart subscriptions, incremental delivery over
``multipart/mixed``, and the negotiation that picks them on the one endpoint (on every
server for what servers change).

The wire format is read as raw bytes and parsed by :mod:`tests.harness.streams`; the
app is ``tests/apps/streams_app.py``. The same guarantees as over WebSocket (hooks,
``on_connect``, limits, origins, cross-site rules, masking, ``stats()``, a client that
leaves) are checked once per streaming transport.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import Iterator
from typing import Any, Literal

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from gqlwire.response_stream import GRAPHQL_CORE_3_3
from tests.apps.streams_app import FAIL_MESSAGE, GOOD_ORIGIN, SMALL
from tests.harness.control import fetch_events, new_token, wait_for_events
from tests.harness.servers import (
    LogWatch,
    ServerPool,
    ServerProcess,
    assert_clean_log,
    start_server,
)
from tests.harness.streams import (
    MULTIPART,
    MULTIPART_SUBSCRIPTION,
    SSE,
    StreamReader,
    boundary_of,
    multipart_parts,
    open_stream,
    sse_events,
)

# Negotiation, hooks, limits and error shapes are gqlwire's own, so those cases run on one
# server per adapter (tests/conftest.py). What each server does with a stream (the bytes
# as written and flushed, keep-alives, a body's size, a client that leaves or stops
# reading, a shutdown, refusing a WebSocket) runs on every server.
pytestmark = pytest.mark.per_adapter

APP = "tests.apps.streams_app:app"
Kind = Literal["sse", "multipart"]
KINDS: list[Kind] = ["sse", "multipart"]
ACCEPT: dict[Kind, str] = {"sse": SSE, "multipart": MULTIPART_SUBSCRIPTION}
QUERY_ACCEPT: dict[Kind, str] = {"sse": SSE, "multipart": MULTIPART}
"""Without application/json: JSON would win the tie for a query."""
URQL_ACCEPT = (
    "multipart/mixed, application/graphql-response+json, application/json, text/event-stream"
)
APOLLO_SUBSCRIPTION_ACCEPT = (
    "multipart/mixed;boundary=graphql;subscriptionSpec=1.0,"
    "application/graphql-response+json,application/json;q=0.9"
)
only_on_3_3 = pytest.mark.skipif(
    not GRAPHQL_CORE_3_3, reason="incremental delivery needs graphql-core 3.3"
)


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


def results(reader: StreamReader, kind: Kind) -> list[Any]:
    """What a whole stream carried, checked: ``("next", result)`` and ``("complete",)``
    for SSE (whose ids count from 1), the unwrapped payloads for multipart."""
    if kind == "sse":
        events, _comments, rest = sse_events(reader.raw)
        assert rest == b""
        assert [event.id for event in events] == [str(n) for n in range(1, len(events) + 1)]
        out: list[Any] = []
        for event in events:
            if event.event == "next":
                out.append(("next", event.json()))
            else:
                assert (event.event, event.data) == ("complete", "")
                out.append(("complete",))
        return out
    parts, closed = multipart_parts(reader.raw, boundary_of(reader.content_type))
    assert closed
    return [part.get("payload", part) if "payload" in part else part for part in parts if part]


async def stats(proc: ServerProcess, route: str = "/graphql") -> dict[str, int]:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(proc.http_url("/_stats", f"route={route}"))
    stats: dict[str, int] = response.json()
    return stats


async def wait_idle(proc: ServerProcess, route: str = "/graphql") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        now = await stats(proc, route)
        if now["http_streams"] == 0 and now["operations"] == 0:
            return
        assert loop.time() < deadline, now
        await asyncio.sleep(0.05)


# -- the wire formats ---------------------------------------------------------------------


@pytest.mark.every_server
async def test_sse_subscription_bytes(proc: ServerProcess) -> None:
    async with open_stream(proc.http_url(), "subscription { count(to: 2) }", SSE) as reader:
        body = await reader.read_to_end()
        assert reader.status == 200
        assert reader.content_type == "text/event-stream; charset=utf-8"
        assert reader.response.headers["cache-control"] == "no-cache"
    assert body == (
        b":\n\n"
        b'id: 1\nevent: next\ndata: {"data":{"count":1}}\n\n'
        b'id: 2\nevent: next\ndata: {"data":{"count":2}}\n\n'
        b"id: 3\nevent: complete\ndata:\n\n"
    )


@pytest.mark.every_server
async def test_sse_subscription_over_get(proc: ServerProcess) -> None:
    query = {"query": "subscription Count($to: Int!) { count(to: $to) }", "variables": {"to": 2}}
    async with open_stream(proc.http_url(), query, SSE, method="GET") as reader:
        await reader.read_to_end()
        assert results(reader, "sse") == [
            ("next", {"data": {"count": 1}}),
            ("next", {"data": {"count": 2}}),
            ("complete",),
        ]


@pytest.mark.every_server
async def test_multipart_subscription_bytes(proc: ServerProcess) -> None:
    accept = 'multipart/mixed;subscriptionSpec="1.0", application/json'
    async with open_stream(proc.http_url(), "subscription { count(to: 2) }", accept) as reader:
        body = await reader.read_to_end()
        assert reader.status == 200
        assert reader.content_type == 'multipart/mixed;boundary="graphql";subscriptionSpec="1.0"'
    head = b"\r\ncontent-type: application/json; charset=utf-8\r\n\r\n"
    assert body == (
        b"\r\n--graphql"
        + head
        + b'{"payload":{"data":{"count":1}}}\r\n--graphql'
        + head
        + b'{"payload":{"data":{"count":2}}}\r\n--graphql--\r\n'
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_a_query_and_a_mutation_are_one_result(proc: ServerProcess, kind: Kind) -> None:
    async with open_stream(proc.http_url(), "{ hello }", QUERY_ACCEPT[kind]) as reader:
        await reader.read_to_end()
        got = results(reader, kind)
    expected: list[Any] = [{"data": {"hello": "world"}}]
    assert got == ([("next", expected[0]), ("complete",)] if kind == "sse" else expected)
    async with open_stream(proc.http_url(), "mutation { increment }", QUERY_ACCEPT[kind]) as reader:
        await reader.read_to_end()
        assert reader.status == 200


@pytest.mark.parametrize("kind", KINDS)
async def test_a_mutation_over_get_is_refused(proc: ServerProcess, kind: Kind) -> None:
    async with open_stream(
        proc.http_url(), "mutation { increment }", QUERY_ACCEPT[kind], method="GET"
    ) as reader:
        body = await reader.read_to_end()
        assert reader.status == 405
        assert reader.response.headers["allow"] == "POST"
    assert "GET" in json.loads(body)["errors"][0]["message"]


# -- request errors ------------------------------------------------------------------------


async def test_sse_validation_errors_are_a_next_event_then_complete(proc: ServerProcess) -> None:
    async with open_stream(proc.http_url(), "subscription { nope }", SSE) as reader:
        await reader.read_to_end()
        assert reader.status == 200
        got = results(reader, "sse")
    assert [entry[0] for entry in got] == ["next", "complete"]
    assert "nope" in got[0][1]["errors"][0]["message"]
    assert "data" not in got[0][1]


async def test_sse_syntax_error_is_400(proc: ServerProcess) -> None:
    async with open_stream(proc.http_url(), "subscription {", SSE) as reader:
        body = await reader.read_to_end()
        assert reader.status == 400
    assert json.loads(body)["errors"][0]["message"].startswith("Syntax Error")


async def test_multipart_request_errors_are_400_before_the_stream(proc: ServerProcess) -> None:
    async with open_stream(proc.http_url(), "subscription { nope }", MULTIPART_SUBSCRIPTION) as r:
        body = await r.read_to_end()
        assert r.status == 400
        assert r.content_type.startswith("application/json")
    assert "nope" in json.loads(body)["errors"][0]["message"]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_source_that_fails_mid_stream(
    proc: ServerProcess, kind: Kind, log: LogWatch
) -> None:
    log.allow(re.escape(FAIL_MESSAGE))
    async with open_stream(proc.http_url(), "subscription { broken }", ACCEPT[kind]) as reader:
        await reader.read_to_end()
    if kind == "sse":
        got = results(reader, kind)
        assert got[0] == ("next", {"data": {"broken": 1}})
        assert got[1][0] == "next" and got[1][1]["errors"][0]["message"] == FAIL_MESSAGE
        assert got[2:] == [("complete",)]
    else:
        parts, closed = multipart_parts(reader.raw, "graphql")
        assert closed
        assert parts[0] == {"payload": {"data": {"broken": 1}}}
        assert parts[1]["payload"] is None
        assert parts[1]["errors"][0]["message"] == FAIL_MESSAGE


@pytest.mark.parametrize("kind", KINDS)
async def test_masked_errors(proc: ServerProcess, kind: Kind, log: LogWatch) -> None:
    log.allow(re.escape(FAIL_MESSAGE))
    url = proc.http_url("/masked")
    async with open_stream(url, "subscription { broken }", ACCEPT[kind]) as reader:
        body = await reader.read_to_end()
    assert b"secret" not in body
    assert b"Internal server error" in body or b"Unexpected error" in body


# -- negotiation ---------------------------------------------------------------------------


async def test_urql_accept_gets_json_for_a_query_and_a_stream_for_a_subscription(
    proc: ServerProcess,
) -> None:
    async with open_stream(proc.http_url(), "{ hello }", URQL_ACCEPT) as reader:
        body = await reader.read_to_end()
        assert reader.content_type == "application/graphql-response+json; charset=utf-8"
    assert json.loads(body) == {"data": {"hello": "world"}}
    async with open_stream(proc.http_url(), "subscription { count(to: 1) }", URQL_ACCEPT) as r:
        await r.read_to_end()
        assert r.content_type == 'multipart/mixed;boundary="-"'
        assert results(r, "multipart") == [{"data": {"count": 1}}]


async def test_apollo_subscription_accept_gets_the_subscription_protocol(
    proc: ServerProcess,
) -> None:
    query = "subscription { count(to: 1) }"
    async with open_stream(proc.http_url(), query, APOLLO_SUBSCRIPTION_ACCEPT) as reader:
        await reader.read_to_end()
        assert "subscriptionSpec" in reader.content_type
        assert results(reader, "multipart") == [{"data": {"count": 1}}]


async def test_q_values_pick_the_transport(proc: ServerProcess) -> None:
    accept = "text/event-stream;q=0.5, application/json;q=0.4"
    async with open_stream(proc.http_url(), "{ hello }", accept) as reader:
        await reader.read_to_end()
        assert reader.content_type.startswith("text/event-stream")
    accept = "text/event-stream;q=0.5, multipart/mixed;subscriptionSpec=1.0;q=0.9"
    async with open_stream(proc.http_url(), "subscription { count(to: 1) }", accept) as reader:
        await reader.read_to_end()
        assert reader.content_type.startswith("multipart/mixed")


async def test_not_acceptable_lists_what_is_served(proc: ServerProcess) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            proc.http_url(),
            json={"query": "subscription { count(to: 1) }"},
            headers={"accept": "image/png"},
        )
        assert response.status_code == 406
        assert response.json()["errors"][0]["extensions"]["acceptable"] == [
            "text/event-stream",
            'multipart/mixed;subscriptionSpec="1.0"',
            "multipart/mixed",
        ]
        response = await client.post(
            proc.http_url("/off"), json={"query": "{ hello }"}, headers={"accept": SSE}
        )
        assert response.status_code == 406
        assert response.json()["errors"][0]["extensions"]["acceptable"] == [
            "application/graphql-response+json",
            "application/json",
        ]


async def test_a_subscription_asked_as_json_names_every_way_to_subscribe(
    proc: ServerProcess,
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        body = {"query": "subscription { count(to: 1) }"}
        response = await client.post(proc.http_url(), json=body)
        assert response.status_code == 426
        message = response.json()["errors"][0]["message"]
        assert "WebSocket" in message and "text/event-stream" in message
        assert "multipart/mixed" in message
        response = await client.post(proc.http_url("/off"), json=body)
        assert response.status_code == 426
        message = response.json()["errors"][0]["message"]
        assert "WebSocket" in message and "event-stream" not in message


@pytest.mark.every_server
async def test_websocket_turned_off(proc: ServerProcess) -> None:
    """``websocket=False``: every handshake is refused with 403 (with a body where the
    server lets the application write one), and a subscription asked as JSON gets 406
    naming the streams, since there is no WebSocket to upgrade to; HTTP goes on."""
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(
            proc.ws_url("/no-websocket"), subprotocols=[Subprotocol("graphql-transport-ws")]
        ):
            pass
    assert refused.value.response.status_code == 403
    async with httpx.AsyncClient(timeout=10) as client:
        query = await client.post(proc.http_url("/no-websocket"), json={"query": "{ hello }"})
        assert (query.status_code, query.json()) == (200, {"data": {"hello": "world"}})
        response = await client.post(
            proc.http_url("/no-websocket"), json={"query": "subscription { count(to: 1) }"}
        )
        assert response.status_code == 406
        error = response.json()["errors"][0]
        assert "text/event-stream" in error["message"] and "WebSocket" not in error["message"]
        assert "upgrade" not in response.headers
    async with open_stream(
        proc.http_url("/no-websocket"), "subscription { count(to: 1) }", SSE
    ) as reader:
        await reader.read_to_end()
        assert results(reader, "sse") == [("next", {"data": {"count": 1}}), ("complete",)]


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", URQL_ACCEPT])
async def test_json_turned_off(proc: ServerProcess, accept: str | None) -> None:
    """``http_json=False``: a request that would be answered as one JSON result gets
    406 listing the streaming types; a stream asked for by name is still served."""
    headers = {} if accept is None else {"accept": accept}
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            proc.http_url("/streams-only"), json={"query": "{ hello }"}, headers=headers
        )
    if accept == URQL_ACCEPT:  # it names the streams too: one of them answers
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("multipart/mixed")
        return
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["acceptable"] == [
        "text/event-stream",
        "multipart/mixed",
    ]


async def test_json_turned_off_still_streams(proc: ServerProcess) -> None:
    async with open_stream(proc.http_url("/streams-only"), "{ hello }", SSE) as reader:
        await reader.read_to_end()
        assert results(reader, "sse") == [("next", {"data": {"hello": "world"}}), ("complete",)]


# -- incremental delivery ------------------------------------------------------------------

DEFER = '{ hello ... @defer(label: "rest") { person { name } } }'
INITIAL = {
    "data": {"hello": "world"},
    "pending": [{"id": "0", "path": [], "label": "rest"}],
    "hasNext": True,
}
LATER = {
    "incremental": [{"id": "0", "data": {"person": {"name": "Ada"}}}],
    "completed": [{"id": "0"}],
    "hasNext": False,
}


@pytest.mark.every_server
@only_on_3_3
@pytest.mark.parametrize(
    "accept", ["multipart/mixed", "multipart/mixed;deferSpec=20220824, application/json"]
)
async def test_defer_over_multipart(proc: ServerProcess, accept: str) -> None:
    async with open_stream(proc.http_url(), DEFER, accept) as reader:
        await reader.read_to_end()
        assert reader.content_type == 'multipart/mixed;boundary="-"'
        assert results(reader, "multipart") == [INITIAL, LATER]


@only_on_3_3
async def test_defer_over_sse(proc: ServerProcess) -> None:
    async with open_stream(proc.http_url(), DEFER, SSE) as reader:
        await reader.read_to_end()
        assert results(reader, "sse") == [("next", INITIAL), ("next", LATER), ("complete",)]


@pytest.mark.every_server
@only_on_3_3
async def test_stream_over_multipart(proc: ServerProcess) -> None:
    query = "{ numbers(to: 3) @stream(initialCount: 1) }"
    async with open_stream(proc.http_url(), query, MULTIPART) as reader:
        await reader.read_to_end()
        first, *rest = results(reader, "multipart")
    assert first["data"] == {"numbers": [1]} and first["hasNext"] is True
    items = [item for r in rest for entry in r.get("incremental", ()) for item in entry["items"]]
    assert items == [2, 3]
    assert rest[-1]["hasNext"] is False


# -- keep-alives -----------------------------------------------------------------------------


@pytest.mark.every_server
async def test_sse_keep_alive_comments(proc: ServerProcess) -> None:
    token = new_token()
    query = f'subscription {{ ticks(token: "{token}") }}'
    async with open_stream(proc.http_url("/keepalive"), query, SSE) as reader:
        while sse_events(reader.raw)[1] < 3:  # the opening comment and two keep-alives
            await reader.read_more()
        events, _comments, _rest = sse_events(reader.raw)
        assert events == []


@pytest.mark.every_server
async def test_multipart_heartbeats(proc: ServerProcess) -> None:
    token = new_token()
    query = f'subscription {{ ticks(token: "{token}") }}'
    async with open_stream(proc.http_url("/keepalive"), query, MULTIPART_SUBSCRIPTION) as r:
        while len(multipart_parts(r.raw, "graphql")[0]) < 2 if r.raw else True:
            await r.read_more()
        assert multipart_parts(r.raw, "graphql")[0][:2] == [{}, {}]


# -- the same guarantees as WebSocket ------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_hooks_and_context(proc: ServerProcess, kind: Kind) -> None:
    token = new_token()
    headers = {"x-token": token, "x-user": "ada"}
    async with open_stream(
        proc.http_url(), "subscription { count(to: 2) }", ACCEPT[kind], headers=headers
    ) as reader:
        await reader.read_to_end()
    events = await wait_for_events(proc, token, "complete")
    context_type = {"sse": "SSEContext", "multipart": "MultipartContext"}[kind]
    assert events == [
        {"event": "connect", "transport": kind, "type": context_type},
        {"event": "context", "transport": kind, "user": "ada"},
        {"event": "operation", "id": None},
        {"event": "next"},
        {"event": "next"},
        {"event": "complete"},
    ]


@pytest.mark.parametrize("kind", KINDS)
async def test_on_error_sees_request_errors(proc: ServerProcess, kind: Kind) -> None:
    token = new_token()
    headers = {"x-token": token}
    async with open_stream(
        proc.http_url(), "subscription { nope }", ACCEPT[kind], headers=headers
    ) as reader:
        await reader.read_to_end()
    events = await wait_for_events(proc, token, "error")
    assert events[-1]["messages"] == ["Cannot query field 'nope' on type 'Subscription'."]


@pytest.mark.parametrize("kind", KINDS)
async def test_on_connect_refusal_is_403_before_any_stream(proc: ServerProcess, kind: Kind) -> None:
    url = proc.http_url("/refuse")
    async with open_stream(url, "subscription { count(to: 1) }", ACCEPT[kind]) as reader:
        body = await reader.read_to_end()
        assert reader.status == 403
    assert json.loads(body) == {"errors": [{"message": "Forbidden"}]}


@pytest.mark.every_server
@pytest.mark.parametrize("kind", KINDS)
async def test_a_client_that_leaves_mid_stream_ends_its_operation(
    proc: ServerProcess, kind: Kind
) -> None:
    token = new_token()
    query = f'subscription {{ tracked(token: "{token}") }}'
    headers = {"x-token": token}
    async with open_stream(proc.http_url(), query, ACCEPT[kind], headers=headers) as reader:
        if kind == "sse":
            assert (await reader.sse_until(1))[0].json() == {"data": {"tracked": "ready"}}
        else:
            assert await reader.parts_until(1) == [{"payload": {"data": {"tracked": "ready"}}}]
        now = await stats(proc)
        assert (now["http_streams"], now["operations"]) == (1, 1)
    events = await wait_for_events(proc, token, "source_finally", "complete")
    assert [e["event"] for e in events][-2:] in (
        ["source_finally", "complete"],
        ["complete", "source_finally"],
    )
    await wait_idle(proc)


@pytest.mark.parametrize("kind", KINDS)
async def test_limits_refuse_before_the_stream(proc: ServerProcess, kind: Kind) -> None:
    url = proc.http_url("/limited")
    query = "subscription { a: count(to: 1) b: count(to: 1) }"
    async with open_stream(url, query, ACCEPT[kind]) as reader:
        body = await reader.read_to_end()
    if kind == "sse":
        got = results(reader, kind)
        assert [entry[0] for entry in got] == ["next", "complete"]
        message = got[0][1]["errors"][0]["message"]
    else:
        assert reader.status == 400
        message = json.loads(body)["errors"][0]["message"]
    assert "Alias count" in message


@pytest.mark.parametrize("kind", KINDS)
async def test_the_time_budget_holds_on_streams(proc: ServerProcess, kind: Kind) -> None:
    accept = SSE if kind == "sse" else MULTIPART
    async with open_stream(proc.http_url("/limited"), "{ spin }", accept) as reader:
        await reader.read_to_end()
        got = results(reader, kind)
    result = got[0][1] if kind == "sse" else got[0]
    assert result.get("data") is None
    assert "time" in result["errors"][0]["message"].lower(), result


@pytest.mark.every_server
@pytest.mark.parametrize("kind", KINDS)
async def test_body_size_limit(proc: ServerProcess, kind: Kind) -> None:
    query = "subscription { count(to: 1) }" + " " * SMALL
    async with open_stream(proc.http_url("/small"), query, ACCEPT[kind]) as reader:
        await reader.read_to_end()
        assert reader.status == 413


@pytest.mark.parametrize("kind", KINDS)
async def test_allowed_origins(proc: ServerProcess, kind: Kind) -> None:
    url = proc.http_url("/origins")
    query = "subscription { count(to: 1) }"
    bad = {"origin": "https://evil.example"}
    async with open_stream(url, query, ACCEPT[kind], headers=bad) as reader:
        await reader.read_to_end()
        assert reader.status == 403
    good = {"origin": GOOD_ORIGIN}
    async with open_stream(url, query, ACCEPT[kind], headers=good) as reader:
        await reader.read_to_end()
        assert reader.status == 200


@pytest.mark.parametrize("kind", KINDS)
async def test_cross_site_requests(proc: ServerProcess, kind: Kind) -> None:
    query = "subscription { count(to: 1) }"
    cross_site = {"sec-fetch-site": "cross-site"}
    async with open_stream(
        proc.http_url(), query, ACCEPT[kind], method="GET", headers=cross_site
    ) as reader:
        await reader.read_to_end()
        assert reader.status == 400
    preflighted = {**cross_site, "graphql-preflight": "1"}
    async with open_stream(
        proc.http_url(), query, ACCEPT[kind], method="GET", headers=preflighted
    ) as reader:
        await reader.read_to_end()
        assert reader.status == 200


@pytest.mark.parametrize("kind", KINDS)
async def test_max_operations_counts_streams(proc: ServerProcess, kind: Kind) -> None:
    token = new_token()
    query = f'subscription {{ tracked(token: "{token}") }}'
    url = proc.http_url("/capped")
    async with open_stream(url, query, ACCEPT[kind], headers={"x-token": token}) as first:
        await (first.sse_until(1) if kind == "sse" else first.parts_until(1))
        async with open_stream(url, query, ACCEPT[kind]) as second:
            body = await second.read_to_end()
            assert second.status == 503
            assert second.response.headers["retry-after"].isdigit()
        assert "Operation limit" in json.loads(body)["errors"][0]["message"]
    await wait_for_events(proc, token, "source_finally")
    await wait_idle(proc, "/capped")


@pytest.mark.parametrize("kind", KINDS)
async def test_shared_subscriptions_over_streams(proc: ServerProcess, kind: Kind) -> None:
    token = new_token()
    query = f'subscription {{ ticks(token: "{token}") }}'
    url = proc.http_url("/shared")
    async with (
        open_stream(url, query, ACCEPT[kind]) as one,
        open_stream(url, query, ACCEPT[kind]) as two,
    ):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while (await stats(proc, "/shared"))["operations"] < 2:
            assert loop.time() < deadline
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(timeout=5) as client:
            await client.post(proc.http_url("/_tick", f"token={token}"))
        for reader in (one, two):
            if kind == "sse":
                assert (await reader.sse_until(1))[0].json() == {"data": {"ticks": 1}}
            else:
                assert (await reader.parts_until(1))[0] == {"payload": {"data": {"ticks": 1}}}
    events = await wait_for_events(proc, token, "source_finally")
    assert [e["event"] for e in events].count("source_start") == 1
    await wait_idle(proc, "/shared")


@pytest.mark.every_server
async def test_a_client_that_does_not_read_is_dropped(proc: ServerProcess) -> None:
    token = new_token()
    query = f'subscription {{ flood(token: "{token}") }}'
    async with open_stream(proc.http_url("/slow"), query, SSE, headers={"x-token": token}):
        # Nothing is read: the queue fills, the socket buffers fill, and the server gives
        # the stream up after slow_consumer_timeout.
        await wait_for_events(proc, token, "source_finally", within=30)
    await wait_idle(proc, "/slow")
    assert (await fetch_events(proc, token))[0] == {"event": "source_start"}


@pytest.mark.every_server
@pytest.mark.parametrize("kind", KINDS)
async def test_server_shutdown_ends_open_streams(server_name: str, kind: Kind) -> None:
    if server_name == "granian":
        # granian's worker gives the application no hook before it stops serving, and
        # its lifespan shutdown comes after open responses: the stream is dropped.
        pytest.xfail("granian: no hook ends a stream before the server drops it")
    proc = start_server(APP, server_name)
    try:
        token = new_token()
        query = f'subscription {{ tracked(token: "{token}") }}'
        headers = {"x-token": token}
        async with open_stream(proc.http_url(), query, ACCEPT[kind], headers=headers) as reader:
            await (reader.sse_until(1) if kind == "sse" else reader.parts_until(1))
            proc.send_signal(signal.SIGTERM)
            await reader.read_to_end(within=20)
        if kind == "sse":
            assert results(reader, kind)[-1] == ("complete",)
        else:
            assert results(reader, kind) == [{"data": {"tracked": "ready"}}]  # and closed
        assert await asyncio.to_thread(proc.wait, 15) == 0, proc.log()
        assert_clean_log(proc)
    finally:
        proc.stop()
