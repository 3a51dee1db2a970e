"""Resumable subscriptions over real servers, with a history broker in the server process.

A subscription's results carry ``extensions.cursor``; subscribing again with that cursor
in the request's ``extensions`` (or SSE's ``Last-Event-ID``) gets every event published
meanwhile, in order, once; a cursor the broker cannot resume after gets a ``gap`` notice.
Shared subscriptions resume too, and once level with their group execute nothing of
their own. Counts are read inside the server process (``/_counts``: the resolver's runs).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast
from urllib.parse import urlencode

import pytest

from gqlwire.fanout.resume import MAX_CURSOR_LENGTH
from tests.apps.resume_app import HISTORY
from tests.harness.control import new_token
from tests.harness.protocols import LEGACY_WS, RESULT, SUBSCRIBE, TRANSPORT_WS
from tests.harness.servers import ServerProcess, assert_clean_log
from tests.harness.streams import MULTIPART_SUBSCRIPTION, SSE, StreamReader, open_stream
from tests.harness.waiting import wait_until
from tests.harness.wsclient import WSClient, http_get, http_post_json, ws_client

TARGET = "tests.apps.resume_app:app"
QUERY = "subscription($t: String!) { tick(topic: $t) { seq } }"


@pytest.fixture(scope="module")
def server(server_name: str, server_pool: Any) -> ServerProcess:
    proc: ServerProcess = server_pool.get(TARGET, server_name)
    return proc


@pytest.fixture(scope="module", autouse=True)
def clean_log(server: ServerProcess) -> Any:
    yield
    assert_clean_log(server)


async def publish(server: ServerProcess, topic: str, start: int, count: int) -> list[str]:
    query = urlencode({"topic": topic, "start": start, "count": count})
    response = await http_post_json(server.http_url("/_publish", query), {})
    response.raise_for_status()
    ids: list[str] = response.json()
    return ids


async def executions(server: ServerProcess, topic: str) -> int:
    response = await http_get(server.http_url("/_counts"))
    return int(response.json().get(topic, 0))


async def subscribed(server: ServerProcess, topic: str, count: int) -> None:
    async def enough() -> bool:
        response = await http_get(server.http_url("/_subscribers"))
        return int(response.json().get(topic, 0)) >= count

    await wait_until(enough, f"{count} broker subscriber(s) of {topic}", within=10)


async def unsubscribed(server: ServerProcess, topic: str) -> None:
    async def none() -> bool:
        response = await http_get(server.http_url("/_subscribers"))
        return int(response.json().get(topic, 0)) == 0

    await wait_until(none, f"no broker subscriber of {topic}", within=10)


@asynccontextmanager
async def connection(
    server: ServerProcess, path: str, protocol: str = TRANSPORT_WS
) -> AsyncIterator[WSClient]:
    async with ws_client(server.ws_url(path), subprotocols=[protocol]) as client:
        await client.send({"type": "connection_init"})
        assert (await client.receive())["type"] == "connection_ack"
        yield client


async def subscribe(
    client: WSClient, topic: str, cursor: str | None = None, protocol: str = TRANSPORT_WS
) -> None:
    payload: dict[str, Any] = {"query": QUERY, "variables": {"t": topic}}
    if cursor is not None:
        payload["extensions"] = {"cursor": cursor}
    await client.send({"id": "1", "type": SUBSCRIBE[protocol], "payload": payload})


async def results(client: WSClient, count: int, protocol: str = TRANSPORT_WS) -> list[Any]:
    received = []
    for _ in range(count):
        message = await client.receive(timeout=10)
        assert message["type"] == RESULT[protocol], message
        received.append(message["payload"])
    return received


def seqs(payloads: list[Any]) -> list[int]:
    return [payload["data"]["tick"]["seq"] for payload in payloads]


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize("path", ["/unshared", "/shared"])
async def test_a_resumed_subscription_gets_every_event_it_missed_once_in_order(
    server: ServerProcess, path: str, protocol: str
) -> None:
    topic = new_token()
    async with connection(server, path, protocol) as client:
        await subscribe(client, topic, protocol=protocol)
        await subscribed(server, topic, 1)
        ids = await publish(server, topic, 0, 3)
        first = await results(client, 3, protocol)
    assert seqs(first) == [0, 1, 2]
    # Each result names its event: the id the broker gave it when it was published.
    assert [payload["extensions"]["cursor"] for payload in first] == ids

    await publish(server, topic, 3, 4)  # while nobody is subscribed
    async with connection(server, path, protocol) as client:
        await subscribe(client, topic, first[-1]["extensions"]["cursor"], protocol)
        await subscribed(server, topic, 1)
        later = await publish(server, topic, 7, 2)
        resumed = await results(client, 6, protocol)
        await client.expect_nothing(0.2)
    assert seqs(resumed) == [3, 4, 5, 6, 7, 8]
    assert [payload["extensions"]["cursor"] for payload in resumed][-2:] == later
    assert all("gap" not in payload["extensions"] for payload in resumed)


async def test_a_shared_subscription_catches_up_alone_then_shares_its_groups_executions(
    server: ServerProcess,
) -> None:
    topic = new_token()
    async with connection(server, "/shared") as client:
        await subscribe(client, topic)
        await subscribed(server, topic, 1)
        await publish(server, topic, 0, 3)
        cursor = (await results(client, 3))[-1]["extensions"]["cursor"]
    await publish(server, topic, 3, 4)  # missed by the first client
    async with connection(server, "/shared") as live, connection(server, "/shared") as back:
        await subscribe(live, topic)  # a new group, from now
        await subscribed(server, topic, 1)
        before = await executions(server, topic)
        await subscribe(back, topic, cursor)
        await subscribed(server, topic, 2)  # its own source, catching up
        await publish(server, topic, 7, 2)
        assert seqs(await results(live, 2)) == [7, 8]
        assert seqs(await results(back, 6)) == [3, 4, 5, 6, 7, 8]
        caught_up = await executions(server, topic) - before
        # The group ran 7 and 8; the resumed one ran 3 to 6 on its own, and at most two
        # live events before it saw the group level with it.
        assert 6 <= caught_up <= 8

        # It has joined: the next events are executed once for both.
        await subscribed(server, topic, 1)
        await publish(server, topic, 9, 2)
        assert seqs(await results(live, 2)) == [9, 10]
        assert seqs(await results(back, 2)) == [9, 10]
        assert await executions(server, topic) - before == caught_up + 2


async def test_a_cursor_past_the_history_gets_a_gap_notice_then_the_oldest_events(
    server: ServerProcess,
) -> None:
    topic = new_token()
    ids = await publish(server, topic, 0, HISTORY + 10)
    async with connection(server, "/unshared") as client:
        await subscribe(client, topic, ids[0])
        received = await results(client, HISTORY)
    assert received[0]["extensions"]["gap"] == {
        "topic": topic,
        "after": ids[0],
        "reason": "expired",
    }
    assert seqs(received) == list(range(10, HISTORY + 10))  # all that is kept
    assert all("gap" not in payload["extensions"] for payload in received[1:])


async def test_a_cursor_of_another_broker_is_reported_lost(server: ServerProcess) -> None:
    topic = new_token()
    async with connection(server, "/unshared") as client:
        await subscribe(client, topic, "0badc0de-12")  # as if from before a restart
        await subscribed(server, topic, 1)
        await publish(server, topic, 0, 1)
        (result,) = await results(client, 1)
    assert result["extensions"]["gap"]["reason"] == "lost"
    assert seqs([result]) == [0]


async def test_sse_ids_are_cursors_and_last_event_id_resumes(server: ServerProcess) -> None:
    topic = new_token()
    body = {"query": QUERY, "variables": {"t": topic}}
    url = server.http_url("/unshared")
    async with open_stream(url, body, "text/event-stream") as stream:
        await subscribed(server, topic, 1)
        ids = await publish(server, topic, 0, 2)
        events = await stream.sse_until(2)
    assert [event.id for event in events] == ids
    await publish(server, topic, 2, 3)
    headers = {"last-event-id": ids[-1]}
    async with open_stream(url, body, "text/event-stream", headers=headers) as stream:
        events = await stream.sse_until(3)
    assert [event.json()["data"]["tick"]["seq"] for event in events] == [2, 3, 4]


async def multipart_results(stream: StreamReader, count: int) -> list[Any]:
    """The first ``count`` results of a multipart subscription (heartbeats skipped)."""
    wanted = count
    while True:
        parts = await stream.parts_until(wanted)
        payloads = [part["payload"] for part in parts if "payload" in part]
        if len(payloads) >= count or len(parts) < wanted:
            return payloads[:count]
        wanted += count - len(payloads)


async def test_multipart_results_carry_cursors_and_a_get_request_resumes_from_its_query(
    server: ServerProcess,
) -> None:
    topic = new_token()
    body: dict[str, Any] = {"query": QUERY, "variables": {"t": topic}}
    url = server.http_url("/unshared")
    async with open_stream(url, body, MULTIPART_SUBSCRIPTION) as stream:
        await subscribed(server, topic, 1)
        ids = await publish(server, topic, 0, 2)
        first = await multipart_results(stream, 2)
    assert [payload["extensions"]["cursor"] for payload in first] == ids
    later = await publish(server, topic, 2, 2)
    body["extensions"] = {"cursor": ids[0]}  # in the query string, as JSON
    async with open_stream(url, body, MULTIPART_SUBSCRIPTION, method="GET") as stream:
        resumed = await multipart_results(stream, 3)
    assert seqs(resumed) == [1, 2, 3]
    assert [payload["extensions"]["cursor"] for payload in resumed] == [ids[1], *later]


async def result_of(client: WSClient, id: str) -> Any:
    """The next result of subscription ``id`` (those of others, ended, are skipped)."""
    while True:
        message = await client.receive(timeout=10)
        if message.get("id") == id and message["type"] == "next":
            return message["payload"]


async def test_bad_cursors_start_now_or_get_an_invalid_gap_and_nothing_breaks(
    server: ServerProcess,
) -> None:
    topic = new_token()
    huge = "9" * (MAX_CURSOR_LENGTH * 20)
    many_keys = json.dumps({f"k{n}": "1" for n in range(200)}, separators=(",", ":"))
    ignored: list[Any] = [12345, {"nested": "x"}, ["x"], "", None]
    cursors = [*ignored, huge, many_keys]
    async with connection(server, "/shared") as client:
        for count, cursor in enumerate(cursors, start=1):
            id = str(count)
            payload = {"query": QUERY, "variables": {"t": topic}, "extensions": {"cursor": cursor}}
            await client.send({"id": id, "type": "subscribe", "payload": payload})
            await subscribed(server, topic, 1)
            await publish(server, topic, count, 1)
            result = await result_of(client, id)
            if cursor in ignored:
                assert seqs([result]) == [count]  # from now: it is not a cursor at all
                assert "gap" not in result["extensions"]
            else:
                assert seqs([result]) == [1]  # the oldest event kept
                assert result["extensions"]["gap"] == {
                    "topic": topic,
                    "after": cursor[:MAX_CURSOR_LENGTH],
                    "reason": "invalid",
                }
            await client.send({"id": id, "type": "complete"})
            await unsubscribed(server, topic)


async def test_a_last_event_id_with_odd_bytes_is_an_invalid_cursor(server: ServerProcess) -> None:
    topic = new_token()
    await publish(server, topic, 0, 1)
    body = {"query": QUERY, "variables": {"t": topic}}
    # Bytes above 0x7f (obs-text): legal in a header value, no cursor of any broker.
    headers = cast(dict[str, str], {"last-event-id": b"caf\xe9-\xb2"})
    async with open_stream(server.http_url("/unshared"), body, SSE, headers=headers) as stream:
        assert stream.status == 200
        (event,) = await stream.sse_until(1)
    result = event.json()
    assert seqs([result]) == [0]
    assert result["extensions"]["gap"]["reason"] == "invalid"
