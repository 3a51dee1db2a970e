"""Clients we did not write subscribing over HTTP streams (on every server name for what
servers change).

- npm ``graphql-sse``'s ``createClient`` in distinct connections mode (one event stream
  per operation): ``node/sse_client.mjs``. Its single connection mode has tests of its
  own (``test_sse_single_client.py``).
- Apollo Client 4: ``HttpLink``, which subscribes with Apollo's multipart HTTP protocol,
  and ``GraphQLWsLink`` over graphql-ws: ``node/apollo_client.mjs``. Its ``@defer`` query
  over HTTP is in ``test_incremental_clients.py``.
- urql with ``fetchSubscriptions: true``, whose ``Accept`` offers both SSE and multipart
  for a subscription, and every type for a query: ``node/urql_client.mjs``.

Each script reports every HTTP response it got (status, media type), so each test also
checks which transport the server chose; asked to (``keepBody``), it also reports the
body as it came, keep-alives the client does not show included. Where a client goes
away in the middle of a subscription, the test waits until the source's ``finally`` ran
and ``stats()`` is back to zero, as for a dropped WebSocket. The server's log must stay
clean (the ``interop`` fixture).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.apps.interop_app import KEEP_ALIVE, boom_message
from tests.harness.node import NodeRun

from .support import InteropServer

# How a server streams a response and notices a client leaving differs, so a stream to
# its end per protocol (graphql-sse's SSE, Apollo's multipart) and every unsubscription
# run on every server; what the clients parse of queries, errors, keep-alives and urql's
# choice of protocol is gqlwire's own framing, run on one server per adapter
# (tests/conftest.py); test_http_streams.py checks the keep-alives on every server.
pytestmark = pytest.mark.per_adapter

SSE_CLIENT = "sse_client.mjs"
APOLLO_CLIENT = "apollo_client.mjs"
URQL_CLIENT = "urql_client.mjs"

HELLO = {"data": {"hello": "Hello, world!"}}
COUNTS = [{"data": {"count": n}} for n in range(1, 6)]
JSON_TYPES = ("application/graphql-response+json", "application/json")


def run(interop: InteropServer, script: str, scenario: str, token: str) -> NodeRun:
    result = interop.node(script, scenario, token, url=interop.http_url())
    result.assert_succeeded()
    return result


def media_types(result: NodeRun) -> list[str]:
    """The media type of each HTTP response the client got, without parameters."""
    for response in result.named("response"):
        assert response["status"] == 200, str(result)
    return [
        str(response["contentType"]).split(";")[0].strip().lower()
        for response in result.named("response")
    ]


def data_of(result: NodeRun, op: str) -> list[Any]:
    """What ``op``'s results held, each reduced to ``{"data": ...}`` (no error allowed)."""
    out = []
    for kind, value in result.of(op):
        if kind != "next":
            continue
        assert not value.get("error") and not value.get("errors"), str(result)
        out.append({"data": value["data"]})
    return out


def expect_boom_in_log(interop: InteropServer) -> None:
    """The server logs the source's exception of ``boom(after: 2)`` (a line and its
    traceback), as it does on a WebSocket."""
    interop.allowed_log.append(rf"RuntimeError: {re.escape(boom_message(2))}$")


async def assert_ended_on_the_server(interop: InteropServer, token: str) -> None:
    """The subscription ``forever(token)`` a client left: its source's ``finally`` ran,
    and the server holds nothing for it any more."""
    events = await interop.wait_for(token, "source_finally")
    assert [name for name, _ in events].count("source_start") == 1, events
    await interop.wait_for_idle()


def keep_alives(body: str, media_type: str) -> int:
    """SSE comments, or multipart parts that are an empty JSON object (heartbeats)."""
    if media_type == "text/event-stream":
        blocks = re.split(r"\r?\n\r?\n", body)
        return sum(1 for b in blocks if b and all(line.startswith(":") for line in b.splitlines()))
    return len(re.findall(r"\r\n\r\n\{\}\r\n--", body))


# -- graphql-sse, distinct connections mode --------------------------------------------------


def test_graphql_sse_query(interop: InteropServer, token: str) -> None:
    result = run(interop, SSE_CLIENT, "query", token)
    assert media_types(result) == ["text/event-stream"]
    assert result.of("hello") == [("next", HELLO), ("complete", None)]


@pytest.mark.every_server
def test_graphql_sse_subscription_to_its_end(interop: InteropServer, token: str) -> None:
    result = run(interop, SSE_CLIENT, "subscription", token)
    assert media_types(result) == ["text/event-stream"]
    assert result.of("count") == [*(("next", r) for r in COUNTS), ("complete", None)]


def test_graphql_sse_validation_error_is_a_next_event(interop: InteropServer, token: str) -> None:
    result = run(interop, SSE_CLIENT, "invalid", token)
    assert media_types(result) == ["text/event-stream"]
    [(kind, payload), end] = result.of("invalid")
    assert (kind, end) == ("next", ("complete", None)), str(result)
    assert set(payload) == {"errors"}, str(result)
    assert [error["message"] for error in payload["errors"]] == [
        "Cannot query field 'nope' on type 'Query'."
    ]


def test_graphql_sse_source_error_is_a_last_next_event(interop: InteropServer, token: str) -> None:
    expect_boom_in_log(interop)
    result = run(interop, SSE_CLIENT, "boom", token)
    assert result.of("boom") == [
        ("next", {"data": {"boom": 1}}),
        ("next", {"data": {"boom": 2}}),
        ("next", {"errors": [{"message": boom_message(2)}]}),
        ("complete", None),
    ]


@pytest.mark.every_server
async def test_graphql_sse_dispose_ends_the_operation(interop: InteropServer, token: str) -> None:
    async with interop.live_node(SSE_CLIENT, "dispose", token, url=interop.http_url()) as live:
        await live.until("disposed")
        # The client aborted its request; the process (and its HTTP agent) is still there.
        await assert_ended_on_the_server(interop, token)
        result = await live.finish()
    result.assert_succeeded()
    assert media_types(result) == ["text/event-stream"]
    assert data_of(result, "forever") == [{"data": {"forever": n}} for n in range(3)]


# -- Apollo Client ---------------------------------------------------------------------------


def test_apollo_http_link_query_is_plain_json(interop: InteropServer, token: str) -> None:
    result = run(interop, APOLLO_CLIENT, "query", token)
    [media_type] = media_types(result)
    assert media_type in JSON_TYPES
    assert data_of(result, "hello") == [HELLO]


@pytest.mark.every_server
def test_apollo_http_link_subscribes_over_multipart(interop: InteropServer, token: str) -> None:
    result = run(interop, APOLLO_CLIENT, "multipart", token)
    [response] = result.named("response")
    content_type = str(response["contentType"]).replace(" ", "").lower()
    assert content_type.startswith("multipart/mixed;"), str(result)
    assert 'boundary="graphql"' in content_type or "boundary=graphql" in content_type
    assert 'subscriptionspec="1.0"' in content_type or "subscriptionspec=1.0" in content_type
    assert data_of(result, "count") == COUNTS
    assert result.of("count")[-1] == ("complete", None)


def test_apollo_http_link_sees_a_source_error_as_fatal(interop: InteropServer, token: str) -> None:
    # The multipart protocol's fatal error part ({"payload": null, "errors": [...]}):
    # Apollo Client hands it over as an error result, and the subscription completes.
    expect_boom_in_log(interop)
    result = run(interop, APOLLO_CLIENT, "multipart-boom", token)
    assert media_types(result) == ["multipart/mixed"]
    assert result.of("boom") == [
        ("next", {"data": {"boom": 1}, "error": None}),
        ("next", {"data": {"boom": 2}, "error": None}),
        ("next", {"data": None, "error": boom_message(2)}),
        ("complete", None),
    ]


@pytest.mark.every_server
async def test_apollo_http_link_unsubscribing_ends_the_operation(
    interop: InteropServer, token: str
) -> None:
    async with interop.live_node(
        APOLLO_CLIENT, "multipart-dispose", token, url=interop.http_url()
    ) as live:
        await live.until("disposed")
        await assert_ended_on_the_server(interop, token)
        result = await live.finish()
    result.assert_succeeded()
    assert media_types(result) == ["multipart/mixed"]
    assert data_of(result, "forever") == [{"data": {"forever": n}} for n in range(3)]


def test_apollo_graphql_ws_link_subscribes(interop: InteropServer, token: str) -> None:
    result = interop.node(APOLLO_CLIENT, "ws", token, wsUrl=interop.url())
    result.assert_succeeded()
    assert result.first("open")["protocol"] == "graphql-transport-ws"
    assert data_of(result, "count") == COUNTS
    assert result.of("count")[-1] == ("complete", None)
    assert result.first("socket-closed")["code"] == 1000
    connected = [d for name, d in interop.events(token) if name == "on_connect"]
    assert connected == [
        {"connection_params": {"token": token}, "protocol": "graphql-transport-ws"}
    ]


# -- urql ------------------------------------------------------------------------------------


def test_urql_query_comes_back_as_json(interop: InteropServer, token: str) -> None:
    # urql's Accept lists JSON, SSE and multipart for a query: the server answers JSON.
    result = run(interop, URQL_CLIENT, "query", token)
    [media_type] = media_types(result)
    assert media_type in JSON_TYPES
    accept = str(result.first("response")["accept"])
    assert "text/event-stream" in accept and "multipart/mixed" in accept
    assert data_of(result, "hello") == [HELLO]


@pytest.mark.parametrize(
    ("scenario", "transport"),
    [("subscription", "text/event-stream"), ("subscription-multipart", "multipart/mixed")],
)
def test_urql_fetch_subscription_to_its_end(
    interop: InteropServer, token: str, scenario: str, transport: str
) -> None:
    # urql offers `text/event-stream, multipart/mixed` and the server answers SSE; asked
    # for multipart alone, it streams multipart/mixed, which urql reads too.
    result = run(interop, URQL_CLIENT, scenario, token)
    assert media_types(result) == [transport]
    received = data_of(result, "count")
    # urql repeats its last result once the stream ends (hasNext: false).
    assert [r for i, r in enumerate(received) if i == 0 or r != received[i - 1]] == COUNTS
    assert result.of("count")[-1] == ("complete", None)


@pytest.mark.every_server
async def test_urql_unsubscribing_ends_the_operation(interop: InteropServer, token: str) -> None:
    async with interop.live_node(URQL_CLIENT, "dispose", token, url=interop.http_url()) as live:
        await live.until("disposed")
        await assert_ended_on_the_server(interop, token)
        result = await live.finish()
    result.assert_succeeded()
    assert data_of(result, "forever") == [{"data": {"forever": n}} for n in range(3)]


# -- every client, past keep-alives ------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "scenario", "media_type"),
    [
        (SSE_CLIENT, "subscription", "text/event-stream"),
        (APOLLO_CLIENT, "multipart", "multipart/mixed"),
        (URQL_CLIENT, "subscription", "text/event-stream"),
    ],
    ids=["graphql-sse", "apollo", "urql"],
)
def test_clients_read_past_keep_alives(
    interop: InteropServer, token: str, script: str, scenario: str, media_type: str
) -> None:
    # /keepalive sends an SSE comment or a multipart {} part after KEEP_ALIVE seconds of
    # silence; the events come further apart than that.
    delay_ms = int(KEEP_ALIVE * 2.5 * 1000)
    result = interop.node(
        script,
        scenario,
        token,
        url=interop.http_url("/keepalive"),
        delayMs=delay_ms,
        keepBody=True,
    )
    result.assert_succeeded()
    assert media_types(result) == [media_type]
    received = data_of(result, "count")
    assert [r for i, r in enumerate(received) if i == 0 or r != received[i - 1]] == COUNTS
    assert result.of("count")[-1] == ("complete", None)
    [body] = result.named("body")
    # Four silences, each longer than KEEP_ALIVE (an SSE stream also starts with one).
    assert keep_alives(body["text"], media_type) >= 2, body["text"]
