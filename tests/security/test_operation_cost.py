"""What one operation may cost a server, with its default options, on every transport (on one
server per adapter: the limits are gqlwire's own).

The attacks of the audit, against real servers (``tests/apps/cost_app.py``):

- a 0.3 KiB query nesting ``friends(first: 2)`` 19 deep, and a 1 KiB document whose
  fragments expand to 2**16 aliases, are refused before they run, like validation errors;
- a token-heavy document of almost 1 MiB is refused at parse, and documents that parse
  do not make the document cache hold more than its byte budget;
- a heavy operation within the limits lets the server's other clients be served while
  it runs, and one over its time budget answers one error;
- introspection and suggestions can be switched off.

The ``/open`` endpoint has every limit off: it shows what each test guards against, so
that a test that passes there too would be caught.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.servers import ServerPool, ServerProcess, assert_clean_log
from tests.harness.wsclient import ws_client

# Every limit here is gqlwire's own (parse, validation, the document cache, execution time
# slices): the server only carries the request, so the module runs on one server per
# adapter (tests/conftest.py). What each server does with a body or a slow reader is in
# test_http_guards.py and test_memory.py, on every server.
pytestmark = pytest.mark.per_adapter

TARGET = "tests.apps.cost_app:app"
MIB = 1024 * 1024
TIMING_SERVERS = ("aiohttp", "uvicorn")
"""Where other clients' service during a heavy operation is checked."""


@pytest.fixture(scope="module")
def proc(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(TARGET, server_name)


def nested(depth: int, first: int = 2) -> str:
    selection = "name"
    for _ in range(depth):
        selection = f"name friends(first: {first}) {{ {selection} }}"
    return f"{{ person {{ {selection} }} }}"


def alias_bomb(levels: int = 16) -> str:
    fragments = [
        f"fragment F{level} on Person {{ ...F{level + 1} ...F{level + 1} }}"
        for level in range(levels)
    ]
    return "\n".join(
        ["{ person { ...F0 } }", *fragments, f"fragment F{levels} on Person {{ n: name }}"]
    )


def directive_bomb(levels: int = 10) -> str:
    """Spreads that each carry a directive, doubling at every level: 2**11 - 2
    directives on 2**10 fields, under every other limit."""
    fragments = [
        f"fragment F{level} on Person {{ ...F{level + 1} @include(if: true) "
        f"...F{level + 1} @include(if: true) }}"
        for level in range(levels)
    ]
    return "\n".join(
        ["{ person { ...F0 } }", *fragments, f"fragment F{levels} on Person {{ name }}"]
    )


DEPTH_ATTACK = "{person" + "{friends(first:2)" * 19 + "{name" + "}" * 21
"""The audit's query: ``friends(first: 2)`` nested 19 deep, in 0.3 KiB."""
DEPTH_ERROR = "Query depth 21 exceeds the limit of 15"
BOMB_ERROR = "Alias count 65536 exceeds the limit of 30"
DIRECTIVE_ERROR = "Directive count 2046 exceeds the limit of 50"
INVALID = "{ person { nope } }"


def test_the_attacks_are_as_small_as_in_the_audit() -> None:
    assert len(DEPTH_ATTACK) < 400
    assert len(alias_bomb()) <= 1024


# -- what a client receives ---------------------------------------------------------------


async def http_errors(proc: ServerProcess, query: str, path: str = "/graphql") -> Any:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(proc.http_url(path), json={"query": query})
    return response.status_code, response.json()


async def transport_ws_answer(proc: ServerProcess, query: str, path: str = "/graphql") -> Any:
    async with ws_client(proc.ws_url(path)) as ws:
        await ws.send({"type": "connection_init"})
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.send({"id": "1", "type": "subscribe", "payload": {"query": query}})
        message = await ws.receive(timeout=30)
        return message["type"], message.get("payload")


async def legacy_answer(proc: ServerProcess, query: str) -> Any:
    async with ws_client(proc.ws_url(), subprotocols=("graphql-ws",)) as ws:
        await ws.send({"type": "connection_init"})
        assert (await ws.receive())["type"] == "connection_ack"
        await ws.send({"id": "1", "type": "start", "payload": {"query": query}})
        while True:
            message = await ws.receive(timeout=30)
            if message["type"] != "ka":
                return message["type"], message.get("payload")


def messages(payload: Any) -> list[str]:
    errors = payload["errors"] if isinstance(payload, dict) else payload
    return [error["message"] for error in errors]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (DEPTH_ATTACK, DEPTH_ERROR),
        (alias_bomb(), BOMB_ERROR),
        (directive_bomb(), DIRECTIVE_ERROR),
    ],
    ids=["depth", "aliases", "directives"],
)
async def test_a_costly_operation_is_refused_like_an_invalid_one(
    proc: ServerProcess, query: str, message: str
) -> None:
    since = proc.log_offset()
    status, body = await http_errors(proc, query)
    invalid_status, invalid_body = await http_errors(proc, INVALID)
    assert status == invalid_status and body.keys() == invalid_body.keys()
    assert messages(body) == [message]

    kind, payload = await transport_ws_answer(proc, query)
    invalid_kind, _ = await transport_ws_answer(proc, INVALID)
    assert kind == invalid_kind == "error"
    assert messages(payload) == [message]

    kind, payload = await legacy_answer(proc, query)
    invalid_kind, _ = await legacy_answer(proc, INVALID)
    assert kind == invalid_kind
    assert messages(payload) == [message]
    assert_clean_log(proc, since=since)


async def test_without_limits_the_same_operations_run(proc: ServerProcess) -> None:
    for query in (alias_bomb(), directive_bomb()):
        status, body = await http_errors(proc, query, path="/open")
        assert status == 200 and "errors" not in body


async def test_introspection_can_be_switched_off(proc: ServerProcess) -> None:
    query = "{ __schema { queryType { name } } }"
    _status, body = await http_errors(proc, query)
    assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    kind, payload = await transport_ws_answer(proc, query, path="/closed")
    assert kind == "error"
    assert messages(payload) == ["Introspection is disabled: the query selects '__schema'."]
    _status, body = await http_errors(proc, "{ __typename }", path="/closed")
    assert body == {"data": {"__typename": "Query"}}


async def test_suggestions_go_with_introspection(proc: ServerProcess) -> None:
    _status, shown = await http_errors(proc, "{ helo }")
    assert "Did you mean 'hello'?" in messages(shown)[0]
    _status, hidden = await http_errors(proc, "{ helo }", path="/closed")
    assert messages(hidden) == ["Cannot query field 'helo' on type 'Query'."]


# -- parsing and the document cache -------------------------------------------------------


def rss(pid: int) -> int:
    """The process's resident set size in bytes, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def descendants(pid: int) -> list[int]:
    """``pid`` and the processes it started, and theirs."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found.extend(descendants(int(child)))
    return found


def serving_pid(proc: ServerProcess) -> int:
    """The process that runs the application: the server's own, or its worker's
    (granian serves from a worker process), which holds the most memory."""
    return max(descendants(proc.pid), key=rss)


async def post_many(proc: ServerProcess, path: str, queries: list[str]) -> list[Any]:
    async with httpx.AsyncClient(timeout=60) as client:
        answers = []
        for query in queries:
            response = await client.post(proc.http_url(path), json={"query": query})
            answers.append(response.json())
        return answers


async def test_a_token_heavy_document_is_refused_at_parse(proc: ServerProcess) -> None:
    pid = serving_pid(proc)
    before = rss(pid)
    # Almost 1 MiB of tokens, each request a different document.
    queries = [f"{{ person{number} " + "a " * 450_000 + "}" for number in range(8)]
    answers = await post_many(proc, "/graphql", queries)
    for answer in answers:
        assert messages(answer) == [
            "Syntax Error: Document contains more than 15000 tokens. Parsing aborted."
        ]
    # Unbounded, each of these kept about 110 MiB in the cache.
    assert rss(pid) - before < 64 * MIB


async def test_the_document_cache_holds_its_byte_budget(proc: ServerProcess) -> None:
    # Documents just under the token limit each keep about 8 MiB once parsed: 24 of
    # them would keep about 200 MiB; the cache keeps 64 MiB of them at most.
    queries = ["{ person { " + "name " * 14_000 + f"n{number}: name }} }}" for number in range(24)]
    pid = serving_pid(proc)
    before = rss(pid)
    answers = await post_many(proc, "/graphql", queries)
    assert all(messages(answer)[0].startswith("Field count") for answer in answers)
    bounded = rss(pid) - before
    assert bounded < 120 * MIB

    before = rss(pid)
    await post_many(proc, "/open", queries)  # no byte budget there: every one is kept
    unbounded = rss(pid) - before
    assert bounded < unbounded


# -- the time an operation takes from the others ------------------------------------------

HEAVY = nested(7, first=6)  # about 336,000 objects: seconds of work, within every limit
OTHERS_SERVED = 3
"""Answers and ticks the others must get meanwhile (measured: dozens of answers, about
twenty ticks; without slices, the few answered before the heavy operation started and
at most one tick)."""


async def others_served_during(proc: ServerProcess, path: str) -> tuple[int, int, Any]:
    """Run HEAVY over HTTP on ``path`` while another HTTP client queries in a loop and a
    WebSocket client receives a tick every 100 ms: how many of each the others got
    before the heavy answer arrived, and that answer."""
    async with (
        httpx.AsyncClient(timeout=60) as heavy_client,
        httpx.AsyncClient(timeout=60) as other_client,
        ws_client(proc.ws_url(path)) as ws,
    ):
        await ws.send({"type": "connection_init"})
        assert (await ws.receive())["type"] == "connection_ack"
        subscription = {"query": "subscription { ticks(every: 0.1) }"}
        await ws.send({"id": "t", "type": "subscribe", "payload": subscription})
        assert (await ws.receive())["type"] == "next"  # the stream runs

        heavy = asyncio.create_task(heavy_client.post(proc.http_url(path), json={"query": HEAVY}))
        answered = ticks = 0

        async def other_http_client() -> None:
            nonlocal answered
            while True:
                response = await other_client.post(proc.http_url(path), json={"query": "{ hello }"})
                assert response.json() == {"data": {"hello": "hello"}}
                if not heavy.done():
                    answered += 1

        async def subscriber() -> None:
            nonlocal ticks
            while True:
                message = await ws.receive(timeout=60)
                assert message["type"] == "next"
                if not heavy.done():
                    ticks += 1

        others = [asyncio.create_task(other_http_client()), asyncio.create_task(subscriber())]
        try:
            response = await heavy
        finally:
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
        await ws.send({"id": "t", "type": "complete"})
        return answered, ticks, response


async def test_a_heavy_operation_does_not_stall_the_others(
    proc: ServerProcess, server_name: str
) -> None:
    if server_name not in TIMING_SERVERS:
        pytest.skip(f"measured on {', '.join(TIMING_SERVERS)}")
    since = proc.log_offset()
    answered, ticks, response = await others_served_during(proc, "/graphql")
    assert response.status_code == 200 and "errors" not in response.json()
    assert answered >= OTHERS_SERVED and ticks >= OTHERS_SERVED
    assert_clean_log(proc, since=since)


async def test_without_slices_the_heavy_operation_stalls_them(
    proc: ServerProcess, server_name: str
) -> None:
    if server_name not in TIMING_SERVERS:
        pytest.skip(f"measured on {', '.join(TIMING_SERVERS)}")
    answered, ticks, response = await others_served_during(proc, "/open")
    assert response.status_code == 200
    assert answered < OTHERS_SERVED or ticks < OTHERS_SERVED


async def test_an_operation_over_its_time_answers_one_error(proc: ServerProcess) -> None:
    query = nested(12, first=3)  # far more than 0.5 s of work
    status, body = await http_errors(proc, query, path="/slow")
    assert status == 200
    assert body == {
        "data": None,
        "errors": [{"message": "Execution time exceeds the limit of 0.5 s"}],
    }
    kind, payload = await transport_ws_answer(proc, query, path="/slow")
    assert kind == "next"
    assert payload == body
    json.dumps(payload)  # a plain result, nothing else
