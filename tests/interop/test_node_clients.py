"""The npm clients against gqlwire, one client per subprotocol (on every server name for
what servers change).

- graphql-ws (``graphql-transport-ws``): ``node/graphql_ws_client.mjs``, ``createClient``
  over ``ws``, ``lazy: false``, ``retryAttempts: 0``.
- subscriptions-transport-ws (legacy ``graphql-ws``): ``node/legacy_client.mjs``,
  ``SubscriptionClient`` over ``ws``, ``reconnect: false``. This client sends its ``start``
  messages right after ``connection_init`` without waiting for the ack (so every scenario
  also checks that gqlwire queues them), and it throws on any message type it does not
  know (the scenario then ends with an ``uncaught`` event and fails).

Both scripts play the same scenarios under the same names. Each test runs one scenario
and checks what the client reported, and where it matters what the server's hooks and
sources recorded. The scenarios both protocols answer alike run with each client; where
the protocols differ (where errors go, a refused connection, keep-alive) each client has
a test of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.apps.interop_app import FAIL_MESSAGE, KEEP_ALIVE, boom_message, flaky_message
from tests.harness.closes import expected_close
from tests.harness.node import GRAPHQL_WS_CLIENT, LEGACY_CLIENT, NodeRun
from tests.harness.protocols import LEGACY_WS, TRANSPORT_WS

from .support import InteropServer

# The clients' checks of every message do not depend on the server, so most scenarios
# run on one server per adapter (tests/conftest.py). Those marked every_server touch what
# servers do differently (the handshake and subprotocol, close codes and reasons, a
# client closing its socket) and run on every server.
pytestmark = pytest.mark.per_adapter

HELLO = {"data": {"hello": "Hello, interop!"}}


def assert_closed_with_1000(result: NodeRun) -> None:
    """graphql-ws disposed of a healthy socket: it saw nothing fatal."""
    assert not result.named("non-lazy-error"), str(result)
    assert [event["code"] for event in result.named("closed")] == [1000], str(result)


def assert_closed_by_itself(result: NodeRun) -> None:
    """subscriptions-transport-ws closed a healthy socket itself: nothing went wrong before."""
    assert not result.named("connection-error"), str(result)
    assert not result.named("client-error"), str(result)
    # `disconnected` comes once, from the client's own close() at the end.
    assert [e["event"] for e in result.events[-3:]] == [
        "disconnected",
        "socket-closed",
        "done",
    ], str(result)


@dataclass(frozen=True)
class NodeClient:
    """One npm client: its script, the subprotocol it speaks, how it ends cleanly."""

    package: str
    """The npm package; its script sends this name in its connection params and
    mutation."""
    script: str
    protocol: str
    assert_clean_end: Callable[[NodeRun], None]

    def run(self, interop: InteropServer, scenario: str, token: str, **config: Any) -> NodeRun:
        result = interop.node(self.script, scenario, token, **config)
        result.assert_succeeded()
        return result

    def assert_connected(self, result: NodeRun, token: str) -> None:
        assert result.first("open")["protocol"] == self.protocol, str(result)
        assert result.first("connected")["payload"] == {"welcome": token}, str(result)


GRAPHQL_WS = NodeClient("graphql-ws", GRAPHQL_WS_CLIENT, TRANSPORT_WS, assert_closed_with_1000)
SUBSCRIPTIONS_TRANSPORT_WS = NodeClient(
    "subscriptions-transport-ws", LEGACY_CLIENT, LEGACY_WS, assert_closed_by_itself
)


@pytest.fixture(params=[GRAPHQL_WS, SUBSCRIPTIONS_TRANSPORT_WS], ids=lambda c: c.protocol)
def client(request: pytest.FixtureRequest) -> NodeClient:
    chosen: NodeClient = request.param
    return chosen


def messages(errors: list[dict[str, Any]]) -> list[str]:
    return [error["message"] for error in errors]


# -- what both protocols answer alike ---------------------------------------------------------


@pytest.mark.every_server
def test_query(interop: InteropServer, token: str, client: NodeClient) -> None:
    result = client.run(interop, "query", token)
    client.assert_connected(result, token)
    assert result.of("hello") == [("next", HELLO), ("complete", None)]
    client.assert_clean_end(result)


def test_mutation(interop: InteropServer, token: str, client: NodeClient) -> None:
    result = client.run(interop, "mutation", token)
    greeting = f"hi from {client.package}"
    assert result.of("set") == [("next", {"data": {"setGreeting": greeting}}), ("complete", None)]
    assert result.of("get") == [("next", {"data": {"greeting": greeting}}), ("complete", None)]
    assert ("set_greeting", {"greeting": greeting}) in interop.events(token)
    client.assert_clean_end(result)


@pytest.mark.every_server
def test_subscription_with_variables_to_its_end(
    interop: InteropServer, token: str, client: NodeClient
) -> None:
    result = client.run(interop, "subscription", token)
    assert result.of("count") == [
        *(("next", {"data": {"count": n}}) for n in range(1, 6)),
        ("complete", None),
    ]
    client.assert_clean_end(result)


@pytest.mark.every_server
async def test_client_ends_a_running_subscription(
    interop: InteropServer, token: str, client: NodeClient
) -> None:
    async with interop.live_node(client.script, "complete-early", token) as live:
        await live.until("completed-early")
        # The source's `finally` ran on the client's `complete` (graphql-transport-ws) or
        # `stop` (graphql-ws), while the socket is open.
        events = await interop.wait_for(token, "source_finally")
        names = [name for name, _ in events]
        assert "on_close" not in names, events
        [subscribed] = [details for name, details in events if name == "on_subscribe"]
        if client.protocol == TRANSPORT_WS:
            assert names.count("source_start") == 1, events
        else:
            assert subscribed["id"] == "1"  # the client's first operation
        assert ("on_complete", {"id": subscribed["id"]}) in events
        result = await live.finish()
    result.assert_succeeded()
    assert result.of("forever")[0] == ("next", {"data": {"forever": 0}})
    if client.protocol == TRANSPORT_WS:
        assert result.of("forever")[-1] == ("complete", None)
    assert result.of("after") == [("next", HELLO), ("complete", None)]
    client.assert_clean_end(result)
    await interop.wait_for(token, "on_close")


def test_connection_params_reach_on_connect(
    interop: InteropServer, token: str, client: NodeClient
) -> None:
    result = client.run(interop, "connection-params", token)
    client.assert_connected(result, token)
    assert result.of("hello") == [("next", HELLO), ("complete", None)]
    [(name, details), *_] = interop.events(token)
    assert name == "on_connect"
    assert details == {
        "connection_params": {
            "token": token,
            "client": client.package,
            "nested": {"list": [1, "two", None], "flag": True},
        },
        "protocol": client.protocol,
    }
    client.assert_clean_end(result)


def test_concurrent_subscriptions_on_one_socket(
    interop: InteropServer, token: str, client: NodeClient
) -> None:
    result = client.run(interop, "concurrent", token)
    for op, to in (("a", 3), ("b", 6), ("c", 2)):
        assert result.of(op) == [
            *(("next", {"data": {"count": n}}) for n in range(1, to + 1)),
            ("complete", None),
        ], str(result)
    assert result.of("q") == [("next", HELLO), ("complete", None)]
    assert result.ran_together("a", "b", "c"), str(result)
    assert len(result.named("open")) == 1
    client.assert_clean_end(result)


# -- graphql-ws (graphql-transport-ws) ----------------------------------------------------------


def test_transport_ws_errors_go_where_the_protocol_says(interop: InteropServer, token: str) -> None:
    interop.expect_errors_scenario_log()
    result = GRAPHQL_WS.run(interop, "errors", token)

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
    GRAPHQL_WS.assert_clean_end(result)


@pytest.mark.every_server
def test_transport_ws_refused_connection_closes_4403(interop: InteropServer, token: str) -> None:
    result = GRAPHQL_WS.run(interop, "refused", token)
    assert not result.named("connected"), str(result)
    closed = result.first("closed")
    assert {"code": closed["code"], "reason": closed["reason"]} == expected_close(
        interop.name, 4403, "Forbidden"
    )
    events = interop.wait_for_sync(token, "on_close")
    assert [name for name, _ in events] == ["on_connect", "on_close"]


def test_transport_ws_keepalive_pings_are_answered(interop: InteropServer, token: str) -> None:
    result = GRAPHQL_WS.run(interop, "keepalive", token, path="/keepalive", pings=5)
    assert len(result.named("ping")) >= 5
    assert result.of("after") == [("next", HELLO), ("complete", None)]
    GRAPHQL_WS.assert_clean_end(result)


# -- subscriptions-transport-ws (legacy graphql-ws) ---------------------------------------------


def test_legacy_ws_errors_go_where_the_protocol_says(interop: InteropServer, token: str) -> None:
    interop.expect_errors_scenario_log()
    result = SUBSCRIPTIONS_TRANSPORT_WS.run(interop, "errors", token)

    # Validation: as the reference server does, `data {errors}` then `complete`.
    [(kind, payload), end] = result.of("validation")
    assert (kind, end) == ("next", ("complete", None)), str(result)
    assert list(payload) == ["errors"]
    assert len(payload["errors"]) == 1 and "nope" in payload["errors"][0]["message"]

    # A resolver error: `data` with data and errors, then `complete`.
    [(kind, payload), end] = result.of("resolver")
    assert (kind, end) == ("next", ("complete", None)), str(result)
    assert payload["data"] == {"hello": "Hello, world!", "fail": None}
    assert messages(payload["errors"]) == [FAIL_MESSAGE]

    # A resolver error in one event of a subscription: that `data` carries it.
    flaky = result.of("flaky")
    assert [kind for kind, _ in flaky] == ["next", "next", "next", "complete"], str(result)
    assert flaky[1][1]["data"] == {"flaky": None}
    assert messages(flaky[1][1]["errors"]) == [flaky_message(2)]

    # The source raising mid-stream: the values before it, then `error` with ONE error
    # object (the client hands the observer exactly that object).
    assert result.of("boom") == [
        ("next", {"data": {"boom": 1}}),
        ("next", {"data": {"boom": 2}}),
        ("error", {"message": boom_message(2)}),
    ]

    assert result.of("after") == [("next", HELLO), ("complete", None)]
    SUBSCRIPTIONS_TRANSPORT_WS.assert_clean_end(result)


@pytest.mark.every_server
def test_legacy_ws_refused_connection_gets_connection_error(
    interop: InteropServer, token: str
) -> None:
    result = SUBSCRIPTIONS_TRANSPORT_WS.run(interop, "refused", token)
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


def test_legacy_ws_ka_keeps_the_connection_alive(interop: InteropServer, token: str) -> None:
    # The client drops a socket whose next `ka` is more than kaTimeoutMs late. Wait for
    # kas that span several of its windows.
    ka_timeout_ms = 1000
    kas = round(3 * ka_timeout_ms / 1000 / KEEP_ALIVE)
    result = SUBSCRIPTIONS_TRANSPORT_WS.run(
        interop, "keepalive", token, path="/keepalive", kaTimeoutMs=ka_timeout_ms, kas=kas
    )
    SUBSCRIPTIONS_TRANSPORT_WS.assert_connected(result, token)
    received = result.named("received")
    assert [event["count"] for event in received][:kas] == list(range(1, kas + 1))
    # `ka` follows the ack at once: the first one before any operation's result.
    assert result.events.index(received[0]) < result.events.index(result.first("next"))
    assert result.of("after") == [("next", HELLO), ("complete", None)]
    SUBSCRIPTIONS_TRANSPORT_WS.assert_clean_end(result)
