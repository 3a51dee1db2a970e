"""The subscriptions-transport-ws npm client (legacy graphql-ws) against gqlwire on every
server name.

Each test runs one scenario of ``node/legacy_client.mjs`` (``SubscriptionClient`` over
``ws``, ``reconnect: false``). This client sends its ``start`` messages right after
``connection_init`` without waiting for the ack (so every scenario also checks that
gqlwire queues them), and it throws on any message type it does not know (the scenario
then ends with an ``uncaught`` event and fails).
"""

from __future__ import annotations

from typing import Any

from tests.apps.interop_app import FAIL_MESSAGE, KEEP_ALIVE, boom_message, flaky_message
from tests.harness.closes import expected_close
from tests.harness.node import LEGACY_CLIENT, NodeRun

from .support import InteropServer

PROTOCOL = "graphql-ws"
HELLO = {"data": {"hello": "Hello, interop!"}}


def run(interop: InteropServer, scenario: str, token: str, **config: Any) -> NodeRun:
    result = interop.node(LEGACY_CLIENT, scenario, token, **config)
    result.assert_succeeded()
    return result


def assert_connected(result: NodeRun, token: str) -> None:
    assert result.first("open")["protocol"] == PROTOCOL, str(result)
    assert result.first("connected")["payload"] == {"welcome": token}, str(result)


def assert_clean_end(result: NodeRun) -> None:
    """The client closed a healthy socket itself: nothing went wrong before."""
    assert not result.named("connection-error"), str(result)
    assert not result.named("client-error"), str(result)
    # `disconnected` comes once, from the client's own close() at the end.
    assert [e["event"] for e in result.events[-3:]] == [
        "disconnected",
        "socket-closed",
        "done",
    ], str(result)


def test_query(interop: InteropServer, token: str) -> None:
    result = run(interop, "query", token)
    assert_connected(result, token)
    assert result.of("hello") == [("next", HELLO), ("complete", None)]
    assert_clean_end(result)


def test_mutation(interop: InteropServer, token: str) -> None:
    result = run(interop, "mutation", token)
    greeting = "hi from subscriptions-transport-ws"
    assert result.of("set") == [("next", {"data": {"setGreeting": greeting}}), ("complete", None)]
    assert result.of("get") == [("next", {"data": {"greeting": greeting}}), ("complete", None)]
    assert ("set_greeting", {"greeting": greeting}) in interop.events(token)
    assert_clean_end(result)


def test_subscription_with_variables_to_its_end(interop: InteropServer, token: str) -> None:
    result = run(interop, "subscription", token)
    assert result.of("count") == [
        *(("next", {"data": {"count": n}}) for n in range(1, 6)),
        ("complete", None),
    ]
    assert_clean_end(result)


def test_errors_go_where_the_protocol_says(interop: InteropServer, token: str) -> None:
    interop.expect_errors_scenario_log()
    result = run(interop, "errors", token)

    # Validation: as the reference server does, `data {errors}` then `complete`.
    [(kind, payload), end] = result.of("validation")
    assert (kind, end) == ("next", ("complete", None)), str(result)
    assert list(payload) == ["errors"]
    assert len(payload["errors"]) == 1 and "nope" in payload["errors"][0]["message"]

    # A resolver error: `data` with data and errors, then `complete`.
    [(kind, payload), end] = result.of("resolver")
    assert (kind, end) == ("next", ("complete", None)), str(result)
    assert payload["data"] == {"hello": "Hello, world!", "fail": None}
    assert [e["message"] for e in payload["errors"]] == [FAIL_MESSAGE]

    # A resolver error in one event of a subscription: that `data` carries it.
    flaky = result.of("flaky")
    assert [kind for kind, _ in flaky] == ["next", "next", "next", "complete"], str(result)
    assert flaky[1][1]["data"] == {"flaky": None}
    assert [e["message"] for e in flaky[1][1]["errors"]] == [flaky_message(2)]

    # The source raising mid-stream: the values before it, then `error` with ONE error
    # object (the client hands the observer exactly that object).
    assert result.of("boom") == [
        ("next", {"data": {"boom": 1}}),
        ("next", {"data": {"boom": 2}}),
        ("error", {"message": boom_message(2)}),
    ]

    assert result.of("after") == [("next", HELLO), ("complete", None)]
    assert_clean_end(result)


async def test_client_stops_a_running_subscription(interop: InteropServer, token: str) -> None:
    async with interop.live_node(LEGACY_CLIENT, "complete-early", token) as client:
        await client.until("completed-early")
        # The source's `finally` ran on the client's `stop`, while the socket is open.
        events = await interop.wait_for(token, "source_finally")
        names = [name for name, _ in events]
        assert "on_close" not in names, events
        [subscribed] = [details for name, details in events if name == "on_subscribe"]
        assert subscribed["id"] == "1"  # the client's first operation
        assert ("on_complete", {"id": "1"}) in events
        result = await client.finish()
    result.assert_succeeded()
    assert result.of("forever")[0] == ("next", {"data": {"forever": 0}})
    assert result.of("after") == [("next", HELLO), ("complete", None)]
    assert_clean_end(result)
    await interop.wait_for(token, "on_close")


def test_connection_params_reach_on_connect(interop: InteropServer, token: str) -> None:
    result = run(interop, "connection-params", token)
    assert_connected(result, token)
    assert result.of("hello") == [("next", HELLO), ("complete", None)]
    [(name, details), *_] = interop.events(token)
    assert name == "on_connect"
    assert details == {
        "connection_params": {
            "token": token,
            "client": "subscriptions-transport-ws",
            "nested": {"list": [1, "two", None], "flag": True},
        },
        "protocol": PROTOCOL,
    }
    assert_clean_end(result)


def test_refused_connection_gets_connection_error(interop: InteropServer, token: str) -> None:
    result = run(interop, "refused", token)
    assert not result.named("connected"), str(result)
    assert result.first("connection-error")["payload"] == {"message": "Prohibited connection!"}
    closed = result.first("socket-closed")
    assert {"code": closed["code"], "reason": closed["reason"]} == expected_close(
        interop.name, 1011, "Prohibited connection!"
    )
    # The start the client sent before the refusal never ran and got no answer.
    assert result.of("hello") == []
    assert result.first("outcome-pending")["pending"] is True
    events = interop.wait_for_sync(token, "on_close")
    assert [name for name, _ in events] == ["on_connect", "on_close"]


def test_concurrent_subscriptions_on_one_socket(interop: InteropServer, token: str) -> None:
    result = run(interop, "concurrent", token)
    for op, to in (("a", 3), ("b", 6), ("c", 2)):
        assert result.of(op) == [
            *(("next", {"data": {"count": n}}) for n in range(1, to + 1)),
            ("complete", None),
        ], str(result)
    assert result.of("q") == [("next", HELLO), ("complete", None)]
    assert result.ran_together("a", "b", "c"), str(result)
    assert len(result.named("open")) == 1
    assert_clean_end(result)


def test_ka_keeps_the_connection_alive(interop: InteropServer, token: str) -> None:
    # The client drops a socket whose next `ka` is more than kaTimeoutMs late. Wait for
    # kas that span several of its windows.
    ka_timeout_ms = 1000
    kas = round(3 * ka_timeout_ms / 1000 / KEEP_ALIVE)
    result = run(interop, "keepalive", token, path="/keepalive", kaTimeoutMs=ka_timeout_ms, kas=kas)
    assert_connected(result, token)
    received = result.named("received")
    assert [event["count"] for event in received][:kas] == list(range(1, kas + 1))
    # `ka` follows the ack at once: the first one before any operation's result.
    assert result.events.index(received[0]) < result.events.index(result.first("next"))
    assert result.of("after") == [("next", HELLO), ("complete", None)]
    assert_clean_end(result)
