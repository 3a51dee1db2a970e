"""The graphql-ws npm client (graphql-transport-ws) against gqlwire on every server name.

Each test runs one scenario of ``node/graphql_ws_client.mjs`` (``createClient`` over
``ws``, ``lazy: false``, ``retryAttempts: 0``) and checks what the client reported, and
where it matters what the server's hooks and sources recorded.
"""

from __future__ import annotations

from typing import Any

from tests.apps.interop_app import FAIL_MESSAGE, boom_message, flaky_message
from tests.harness.closes import expected_close
from tests.harness.node import GRAPHQL_WS_CLIENT, NodeRun

from .support import InteropServer

PROTOCOL = "graphql-transport-ws"
HELLO = {"data": {"hello": "Hello, interop!"}}


def run(interop: InteropServer, scenario: str, token: str, **config: Any) -> NodeRun:
    result = interop.node(GRAPHQL_WS_CLIENT, scenario, token, **config)
    result.assert_succeeded()
    return result


def assert_connected(result: NodeRun, token: str) -> None:
    assert result.first("open")["protocol"] == PROTOCOL, str(result)
    assert result.first("connected")["payload"] == {"welcome": token}, str(result)


def assert_clean_end(result: NodeRun) -> None:
    """The client disposed of a healthy socket: it saw nothing fatal."""
    assert not result.named("non-lazy-error"), str(result)
    assert [event["code"] for event in result.named("closed")] == [1000], str(result)


def messages(errors: list[dict[str, Any]]) -> list[str]:
    return [error["message"] for error in errors]


def test_query(interop: InteropServer, token: str) -> None:
    result = run(interop, "query", token)
    assert_connected(result, token)
    assert result.of("hello") == [("next", HELLO), ("complete", None)]
    assert_clean_end(result)


def test_mutation(interop: InteropServer, token: str) -> None:
    result = run(interop, "mutation", token)
    greeting = "hi from graphql-ws"
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

    # Validation: an `error` message, so the sink's error gets the GraphQL errors.
    [(kind, errors)] = result.of("validation")
    assert kind == "error", str(result)
    assert len(errors) == 1 and "nope" in errors[0]["message"], str(result)

    # A resolver error: `next` with data and errors, then `complete`.
    [(kind, payload), end] = result.of("resolver")
    assert (kind, end) == ("next", ("complete", None)), str(result)
    assert payload["data"] == {"hello": "Hello, world!", "fail": None}
    assert messages(payload["errors"]) == [FAIL_MESSAGE]
    assert payload["errors"][0]["path"] == ["fail"]

    # A resolver error in one event of a subscription: that `next` carries it, the
    # stream goes on.
    flaky = result.of("flaky")
    assert [kind for kind, _ in flaky] == ["next", "next", "next", "complete"], str(result)
    assert flaky[0][1] == {"data": {"flaky": 1}}
    assert flaky[1][1]["data"] == {"flaky": None}
    assert messages(flaky[1][1]["errors"]) == [flaky_message(2)]
    assert flaky[2][1] == {"data": {"flaky": 3}}

    # The source raising mid-stream: the values before it, then an `error` (no complete).
    assert result.of("boom") == [
        ("next", {"data": {"boom": 1}}),
        ("next", {"data": {"boom": 2}}),
        ("error", [{"message": boom_message(2)}]),
    ]

    # None of them closed the socket.
    assert result.of("after") == [("next", HELLO), ("complete", None)]
    assert_clean_end(result)


async def test_client_completes_a_running_subscription(interop: InteropServer, token: str) -> None:
    async with interop.live_node(GRAPHQL_WS_CLIENT, "complete-early", token) as client:
        await client.until("completed-early")
        # The source's `finally` ran on the client's `complete`, while the socket is open.
        events = await interop.wait_for(token, "source_finally")
        names = [name for name, _ in events]
        assert "on_close" not in names, events
        assert names.count("source_start") == 1, events
        [subscribed] = [details for name, details in events if name == "on_subscribe"]
        assert ("on_complete", {"id": subscribed["id"]}) in events
        result = await client.finish()
    result.assert_succeeded()
    assert result.of("forever")[0] == ("next", {"data": {"forever": 0}})
    assert result.of("forever")[-1] == ("complete", None)
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
            "client": "graphql-ws",
            "nested": {"list": [1, "two", None], "flag": True},
        },
        "protocol": PROTOCOL,
    }
    assert_clean_end(result)


def test_refused_connection_closes_4403(interop: InteropServer, token: str) -> None:
    result = run(interop, "refused", token)
    assert not result.named("connected"), str(result)
    closed = result.first("closed")
    assert {"code": closed["code"], "reason": closed["reason"]} == expected_close(
        interop.name, 4403, "Forbidden"
    )
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


def test_keepalive_pings_are_answered(interop: InteropServer, token: str) -> None:
    result = run(interop, "keepalive", token, path="/keepalive", pings=5)
    assert len(result.named("ping")) >= 5
    assert result.of("after") == [("next", HELLO), ("complete", None)]
    assert_clean_end(result)
