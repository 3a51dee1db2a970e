"""The reference server suite (npm graphql-ws ``tests/server.test.ts``), over real servers.

Every test of that file that a client can observe, for ``graphql-transport-ws``, on every ASGI
server. Each test is named after the reference test it ports and quotes its title. Where the
reference inspects hook arguments in-process, the configuration in
``tests/apps/reference_app.py`` records them and the test reads them back (``ref.wait_for``).

Not ported (they drive the protocol core with a fake socket, or use options gqlwire does not
have):

- "should use a custom JSON message replacer function" and "... reviver function": gqlwire has
  no ``jsonMessageReplacer``/``jsonMessageReviver`` options.
- "should have acknowledged connection even if ack message send didn't resolve": needs a
  transport whose ``send`` never resolves; covered by the protocol machine's unit tests
  (acknowledged is set before the ack is sent).
- "should invoke the websocket callback on ping and not reply automatically" and "... on pong":
  the transport-level ``onPing``/``onPong`` callbacks do not exist in gqlwire.
- "should clean up subscription reservations on abrupt errors without relying on close": over
  the wire a throwing ``execute`` closes the socket (4500), which cleans up anyway; the
  reservation bookkeeping is unit-tested.
"""

from __future__ import annotations

import asyncio

import pytest
from graphql import parse, validate

from tests.apps.fixture_schema import GREETINGS, schema
from tests.apps.reference_app import SLOW_CONNECT_DELAY
from tests.harness.wsclient import handshake_status

from .conftest import (
    QUIET,
    WAIT,
    RefServer,
    assert_close,
    barrier,
    complete,
    complete_message,
    init,
    next_message,
    peer_close_seen_by_app,
    subscribe,
)

# -- top level --------------------------------------------------------------------------------


async def test_should_use_the_schema_resolved_from_a_promise_on_subscribe(
    ref: RefServer, token: str
) -> None:
    """should use the schema resolved from a promise on subscribe"""
    async with ref.connect("/schema-fn", token) as client:
        await init(client)
        await subscribe(client, "1", "{ getValue }")
        assert await client.receive() == next_message("1", {"getValue": "value"})
        assert await client.receive() == complete_message("1")
        await ref.wait_for(token, "on_complete", id="1")
    assert await ref.wait_for(token, "schema") == {"id": "1"}
    assert await ref.wait_for(token, "execute") == {"schema_is_resolved": True}


async def test_should_use_the_provided_parse_function(ref: RefServer, token: str) -> None:
    """should use the provided parse function"""
    async with ref.connect("/custom-parse", token) as client:
        await init(client)
        await subscribe(client, "1", "{ getValue }")
        assert await client.receive() == next_message("1", {"getValue": "value"})
    assert await ref.wait_for(token, "parse") == {"query": "{ getValue }"}


async def test_should_use_the_provided_validate_function(ref: RefServer) -> None:
    """should use the provided validate function"""
    async with ref.connect("/custom-validate") as client:
        await init(client)
        await subscribe(client, "1", "{ getValue }")
        assert await client.receive() == {
            "id": "1",
            "type": "error",
            "payload": [{"message": "Nothing is valid"}],
        }


async def test_should_use_the_provided_roots_as_resolvers(ref: RefServer) -> None:
    """should use the provided roots as resolvers"""
    async with ref.connect("/roots") as client:
        await init(client)
        await subscribe(client, "1", "{ hello }")
        assert await client.receive() == next_message("1", {"hello": "Hello World!"})
        assert await client.receive() == complete_message("1")

        await subscribe(client, "2", "subscription { count }")
        for number in (1, 2, 3):
            assert await client.receive() == next_message("2", {"count": number})
        assert await client.receive() == complete_message("2")


async def test_should_pass_in_the_context_value_from_the_config(ref: RefServer, token: str) -> None:
    """should pass in the context value from the config"""
    async with ref.connect("/context-value", token) as client:
        await init(client)
        await subscribe(client, "1", "{ getValue }")
        assert await client.receive() == next_message("1", {"getValue": "value"})
        assert await client.receive() == complete_message("1")
        assert await ref.wait_for(token, "execute") == {"context_is_config": True}

        await subscribe(client, "2", "subscription { greetings }")
        assert await client.receive() == next_message("2", {"greetings": "Hi"})
        assert await ref.wait_for(token, "subscribe") == {"context_is_config": True}


async def test_should_pass_the_on_subscribe_exec_args_to_the_context_option_and_use_it(
    ref: RefServer, token: str
) -> None:
    """should pass the `onSubscribe` exec args to the `context` option and use it"""
    async with ref.connect("/onsubscribe-context-fn", token) as client:
        await init(client)
        await subscribe(client, "1", "{ getValue }")
        assert await ref.wait_for(token, "context") == {"document_from_on_subscribe": True}
        assert await ref.wait_for(token, "execute") == {
            "document_from_on_subscribe": True,
            "context_injected": True,
        }
        assert await client.receive() == next_message("1", {"getValue": "value"})


async def test_should_use_the_root_from_the_roots_option_if_the_on_subscribe_doesnt_provide_one(
    ref: RefServer, token: str
) -> None:
    """should use the root from the `roots` option if the `onSubscribe` doesnt provide one"""
    async with ref.connect("/onsubscribe-roots", token) as client:
        await init(client)
        await subscribe(client, "1", "{ getValue }")
        assert await ref.wait_for(token, "execute") == {
            "document_from_on_subscribe": True,
            "root_is_roots_query": True,
        }
        assert await client.receive() == next_message("1", {"getValue": "value"})


async def test_should_prefer_the_on_subscribe_context_value_even_if_context_option_is_set(
    ref: RefServer, token: str
) -> None:
    """should prefer the `onSubscribe` context value even if `context` option is set"""
    async with ref.connect("/onsubscribe-context-preferred", token) as client:
        await init(client)
        await subscribe(client, "1", "{ getValue }")
        assert await ref.wait_for(token, "execute") == {"context_value": "me-me"}
        assert await client.receive() == next_message("1", {"getValue": "value"})


# -- Connect ---------------------------------------------------------------------------------


async def test_should_refuse_connection_and_close_socket_if_returning_false(
    ref: RefServer,
) -> None:
    """Connect: should refuse connection and close socket if returning `false`"""
    async with ref.connect("/connect-false") as client:
        await client.send({"type": "connection_init"})
        assert_close(ref.name, await client.wait_closed(WAIT), 4403, "Forbidden")


async def test_should_acknowledge_connection_if_not_implemented_returning_true_or_nothing(
    ref: RefServer,
) -> None:
    """Connect: should acknowledge connection if not implemented, returning `true` or nothing"""
    for path in ("/bare", "/connect-true", "/connect-none"):
        async with ref.connect(path) as client:
            assert await init(client) == {"type": "connection_ack"}, path


async def test_should_send_optional_payload_with_connection_ack_message(ref: RefServer) -> None:
    """Connect: should send optional payload with connection ack message"""
    async with ref.connect("/connect-payload") as client:
        assert await init(client) == {"type": "connection_ack", "payload": {"itsa": "me"}}


async def test_should_pass_in_the_connection_params_through_the_context_and_have_other_flags_correctly_set(  # noqa: E501
    ref: RefServer, token: str
) -> None:
    """Connect: should pass in the `connectionParams` through the context and have other flags
    correctly set"""
    connection_params = {"some": "string", "with": "a", "number": 10}
    async with ref.connect("/graphql", token) as client:
        await client.send({"type": "connection_init", "payload": connection_params})
        connected = await ref.wait_for(token, "on_connect")
    assert connected["connection_params"] == connection_params
    assert connected["connection_init_received"] is True  # obviously received
    assert connected["acknowledged"] is False  # not yet acknowledged


async def test_should_close_the_socket_after_the_connection_init_wait_timeout_has_passed_without_having_received_a_connection_init_message(  # noqa: E501
    ref: RefServer,
) -> None:
    """Connect: should close the socket after the `connectionInitWaitTimeout` has passed
    without having received a `ConnectionInit` message"""
    async with ref.connect("/init-timeout-10ms") as client:
        status = await client.wait_closed(WAIT)
    assert_close(ref.name, status, 4408, "Connection initialisation timeout")


async def test_should_not_close_the_socket_after_the_connection_init_wait_timeout_has_passed_but_the_callback_is_still_resolving(  # noqa: E501
    ref: RefServer,
) -> None:
    """Connect: should not close the socket after the `connectionInitWaitTimeout` has passed
    but the callback is still resolving"""
    async with ref.connect("/slow-connect") as client:
        await client.send({"type": "connection_init"})
        # on_connect takes longer than the init timeout, and the ack still comes
        assert await client.receive(WAIT + SLOW_CONNECT_DELAY) == {"type": "connection_ack"}
        await client.expect_nothing(QUIET)


async def test_should_close_the_socket_if_an_additional_connection_init_message_is_received_while_one_is_pending(  # noqa: E501
    ref: RefServer,
) -> None:
    """Connect: should close the socket if an additional `ConnectionInit` message is received
    while one is pending"""
    async with ref.connect("/slow-connect") as client:
        await client.send({"type": "connection_init"})
        await asyncio.sleep(0.01)  # issue an additional one a bit later, as the reference does
        await client.send({"type": "connection_init"})
        status = await client.wait_closed(WAIT)
        assert_close(ref.name, status, 4429, "Too many initialisation requests")
        with pytest.raises(AssertionError, match="connection closed"):
            await client.receive(QUIET)  # the pending on_connect never acknowledged


async def test_should_close_the_socket_if_more_than_one_connection_init_message_is_received_at_any_given_time(  # noqa: E501
    ref: RefServer,
) -> None:
    """Connect: should close the socket if more than one `ConnectionInit` message is received
    at any given time"""
    async with ref.connect() as client:
        await init(client)
        # random connection init message even after acknowledgement
        await client.send({"type": "connection_init"})
        assert_close(
            ref.name, await client.wait_closed(WAIT), 4429, "Too many initialisation requests"
        )


# -- Ping/Pong -----------------------------------------------------------------------------


async def test_should_respond_with_a_pong_to_a_ping(ref: RefServer) -> None:
    """Ping/Pong: should respond with a pong to a ping"""
    async with ref.connect() as client:
        await client.send({"type": "ping"})
        assert await client.receive_raw() == '{"type":"pong"}'


async def test_should_return_pings_payload_through_the_pong(ref: RefServer) -> None:
    """Ping/Pong: should return ping's payload through the pong"""
    async with ref.connect() as client:
        await client.send({"type": "ping", "payload": {"iCome": "back"}})
        assert await client.receive() == {"type": "pong", "payload": {"iCome": "back"}}


async def test_should_not_react_to_a_pong(ref: RefServer) -> None:
    """Ping/Pong: should not react to a pong"""
    async with ref.connect() as client:
        await client.send({"type": "pong"})
        await client.expect_nothing(QUIET)  # no message and no close


# -- Subscribe -------------------------------------------------------------------------------


async def test_should_close_the_socket_on_request_if_connection_is_not_acknowledged(
    ref: RefServer,
) -> None:
    """Subscribe: should close the socket on request if connection is not acknowledged"""
    async with ref.connect() as client:
        await subscribe(client, "1", "subscription NoAck {}", operationName="NoAck", variables={})
        assert_close(ref.name, await client.wait_closed(WAIT), 4401, "Unauthorized")


async def test_should_directly_use_the_execution_arguments_returned_from_on_subscribe(
    ref: RefServer, token: str
) -> None:
    """Subscribe: should directly use the execution arguments returned from `onSubscribe`"""
    async with ref.connect("/onsubscribe-args", token) as client:
        await init(client)
        await subscribe(
            client,
            "1",
            f'subscription Ping {{ ping(key: "{token}") }}',
            operationName="Ping",
            variables={},
        )
        # because on_subscribe changed the request
        assert await client.receive() == next_message("1", {"getValue": "value"})
        assert await ref.wait_for(token, "execute") == {
            "schema_is_fixture": True,  # the schema of the returned args
            "root_value_is_none": True,  # an explicit None is kept, not replaced by `roots`
            "operation_name": "Nope",
            "variable_values": None,  # the returned args had none
        }
        assert await client.receive() == complete_message("1")
        await client.expect_nothing(QUIET)


async def test_should_report_the_graphql_errors_returned_from_on_subscribe(
    ref: RefServer, token: str
) -> None:
    """Subscribe: should report the graphql errors returned from `onSubscribe`"""
    async with ref.connect("/onsubscribe-errors") as client:
        await init(client)
        await subscribe(
            client,
            "1",
            f'subscription Ping {{ ping(key: "{token}") }}',
            operationName="Ping",
            variables={},
        )
        assert await client.receive() == {
            "id": "1",
            "type": "error",
            "payload": [{"message": "Report"}, {"message": "Me"}],
        }
        await client.expect_nothing(QUIET)


async def test_should_use_the_execution_result_returned_from_on_next(ref: RefServer) -> None:
    """Subscribe: should use the execution result returned from `onNext`"""
    async with ref.connect("/on-next") as client:
        await init(client)
        await subscribe(client, "1", "subscription {\n  greetings\n}", variables={})
        for _ in GREETINGS:
            assert await client.receive() == next_message("1", {"hey": "there"})
        assert await client.receive() == complete_message("1")
        await client.expect_nothing(QUIET)


async def test_should_use_the_graphql_errors_returned_from_on_error(ref: RefServer) -> None:
    """Subscribe: should use the graphql errors returned from `onError`"""
    async with ref.connect("/on-error") as client:
        await init(client)
        await subscribe(client, "1", "query {\n  nogql\n}", variables={})
        assert await client.receive() == {
            "id": "1",
            "type": "error",
            "payload": [{"message": "Itsa me!"}, {"message": "Anda me!"}],
        }
        await client.expect_nothing(QUIET)


async def test_should_use_the_operation_result_returned_from_on_operation(
    ref: RefServer,
) -> None:
    """Subscribe: should use the operation result returned from `onOperation`"""
    async with ref.connect("/on-operation") as client:
        await init(client)
        await subscribe(client, "1", "query {\n  getValue\n}", variables={})
        # because on_operation replaced the execution result with a stream
        for _ in range(3):
            assert await client.receive() == next_message("1", {"replaced": "with me"})
        assert await client.receive() == complete_message("1")  # the stream ended
        await client.expect_nothing(QUIET)


async def test_should_execute_the_query_of_string_type_next_the_result_and_then_complete(
    ref: RefServer,
) -> None:
    """Subscribe: should execute the query of `string` type, "next" the result and then
    "complete\""""
    async with ref.connect() as client:
        await init(client)
        await subscribe(
            client,
            "1",
            "query TestString {\n  getValue\n}",
            operationName="TestString",
            variables={},
        )
        assert await client.receive() == next_message("1", {"getValue": "value"})
        assert await client.receive() == complete_message("1")


async def test_should_execute_the_live_query_next_multiple_results_and_then_complete(
    ref: RefServer,
) -> None:
    """Subscribe: should execute the live query, "next" multiple results and then "complete\""""
    async with ref.connect("/live-query") as client:
        await init(client)
        await subscribe(
            client,
            "1",
            "query TestString {\n  getValue\n}",
            operationName="TestString",
            variables={},
        )
        for value in ("Hi", "Hello", "Sup"):
            assert await client.receive() == next_message("1", {"getValue": value})
        assert await client.receive() == complete_message("1")


async def test_should_be_able_to_complete_a_long_running_query_before_the_result_becomes_available(
    ref: RefServer, token: str
) -> None:
    """Subscribe: should be able to complete a long running query before the result becomes
    available"""
    async with ref.connect("/held-execute", token) as client:
        await init(client)
        await subscribe(client, "1", "query { getValue }")
        await ref.wait_for(token, "execute")  # execute is running, its result held back
        await complete(client, "1")  # complete before resolve
        await barrier(client)  # the server has handled the complete
        await ref.release(token)  # the result becomes available after the complete
        await client.expect_nothing(QUIET)  # no further activity expected after complete
        await ref.wait_for(token, "on_complete", id="1")


async def test_should_execute_the_query_and_error_out_because_of_validation_errors(
    ref: RefServer,
) -> None:
    """Subscribe: should execute the query and "error" out because of validation errors"""
    query = (
        "query TestNoField {\n              testNumber\n              testBoolean\n            }"
    )
    # graphql-core words the messages itself (3.2 quotes names with ' where graphql-js uses ")
    messages = [error.message for error in validate(schema, parse(query))]
    assert [m.replace("'", '"') for m in messages] == [
        'Cannot query field "testNumber" on type "Query".',
        'Cannot query field "testBoolean" on type "Query".',
    ]
    async with ref.connect() as client:
        await init(client)
        await subscribe(client, "1", query, operationName="TestNoField", variables={})
        assert await client.receive() == {
            "id": "1",
            "type": "error",
            "payload": [
                {"message": messages[0], "locations": [{"line": 2, "column": 15}]},
                {"message": messages[1], "locations": [{"line": 3, "column": 15}]},
            ],
        }
        await client.expect_nothing(QUIET)  # GraphQL errors do not close the socket


async def test_should_execute_the_subscription_and_next_the_published_payload(
    ref: RefServer,
) -> None:
    """Subscribe: should execute the subscription and "next" the published payload"""
    async with ref.connect() as client:
        await init(client)
        await subscribe(
            client, "1", "subscription Greetings {\n  greetings\n}", operationName="Greetings"
        )
        for greeting in GREETINGS:  # we say Hi in 5 languages
            assert await client.receive() == next_message("1", {"greetings": greeting})
        assert await client.receive() == complete_message("1")


async def test_should_stop_dispatching_messages_after_completing_a_subscription(
    ref: RefServer, token: str
) -> None:
    """Subscribe: should stop dispatching messages after completing a subscription"""
    async with ref.connect("/graphql", token) as client:
        await init(client)
        await subscribe(client, "1", f'subscription {{ ping(key: "{token}") }}')
        await ref.pong(token)
        assert await client.receive() == next_message("1", {"ping": "pong"})

        await complete(client, "1")
        await ref.wait_for(token, "on_complete", id="1")

        for _ in range(3):
            await ref.pong(token)
        await client.expect_nothing(QUIET)
        assert await ref.pending_pongs(token) == 3  # the source was closed: nobody listens


async def test_should_close_the_socket_on_duplicate_operation_requests(
    ref: RefServer, token: str
) -> None:
    """Subscribe: should close the socket on duplicate operation requests"""
    async with ref.connect() as client:
        await init(client)
        await subscribe(client, "not-unique", f'subscription {{ ping(key: "{token}") }}')
        # try subscribing with a live subscription id
        await subscribe(client, "not-unique", "query { getValue }")
        status = await client.wait_closed(WAIT)
    assert_close(ref.name, status, 4409, "Subscriber for not-unique already exists")


async def test_should_close_the_socket_on_duplicate_operation_requests_even_if_one_is_still_preparing(  # noqa: E501
    ref: RefServer,
) -> None:
    """Subscribe: should close the socket on duplicate operation requests even if one is still
    preparing"""
    async with ref.connect("/onsubscribe-never") as client:
        await init(client)
        await subscribe(client, "not-unique", "query { getValue }")
        await subscribe(client, "not-unique", "query { getValue }")
        status = await client.wait_closed(WAIT)
    assert_close(ref.name, status, 4409, "Subscriber for not-unique already exists")


async def test_should_support_persisted_queries(ref: RefServer) -> None:
    """Subscribe: should support persisted queries"""
    async with ref.connect("/persisted") as client:
        await init(client)
        await subscribe(client, "1", "iWantTheValue")
        assert await client.receive() == next_message("1", {"getValue": "value"})


async def test_should_call_on_complete_callback_when_client_completes(
    ref: RefServer, token: str
) -> None:
    """Subscribe: should call `onComplete` callback when client completes"""
    async with ref.connect("/graphql", token) as client:
        await init(client)
        await subscribe(client, "1", f'subscription {{ ping(key: "{token}") }}')
        await ref.wait_for(token, "on_operation", id="1")
        await ref.pong(token)  # just to make sure we're streaming
        assert (await client.receive())["type"] == "next"

        await complete(client, "1")
        await ref.wait_for(token, "on_complete", id="1")


async def test_should_call_on_complete_callback_even_if_socket_terminates_abruptly(
    ref: RefServer, token: str
) -> None:
    """Subscribe: should call `onComplete` callback even if socket terminates abruptly"""
    async with ref.connect("/graphql", token) as client:
        await init(client)
        await subscribe(client, "1", f'subscription {{ ping(key: "{token}") }}')
        await ref.wait_for(token, "on_operation", id="1")
        await ref.pong(token)  # just to make sure we're streaming
        assert (await client.receive())["type"] == "next"

        client.abort()  # terminate the socket abruptly
        await ref.wait_for(token, "on_complete", id="1")
        await ref.wait_for(token, "on_close")


async def test_should_respect_completed_subscriptions_even_if_subscribe_operation_stalls(
    ref: RefServer, token: str
) -> None:
    """Subscribe: should respect completed subscriptions even if subscribe operation stalls"""
    async with ref.connect("/stalled-subscribe", token) as client:
        await init(client)
        await subscribe(client, "1", f'subscription {{ ping(key: "{token}") }}')
        await ref.wait_for(token, "subscribe")  # subscribe is stalled
        await complete(client, "1")
        await barrier(client)  # the server has handled the complete

        await ref.release(token)  # then continue
        await ref.pong(token)  # emit
        await client.expect_nothing(QUIET)
        await ref.wait_for(token, "on_complete", id="1")


async def test_should_not_send_a_complete_message_back_if_the_client_sent_it(
    ref: RefServer, token: str
) -> None:
    """Subscribe: should not send a complete message back if the client sent it"""
    async with ref.connect("/graphql", token) as client:
        await init(client)
        await subscribe(client, "1", "subscription { lateReturn }")
        await ref.wait_for(token, "on_operation", id="1")
        await complete(client, "1")
        await ref.wait_for(token, "on_complete", id="1")
        await client.expect_nothing(QUIET)


async def test_should_not_send_error_messages_if_socket_closes_before_on_subscribe_hooks_resolves(
    ref: RefServer, token: str
) -> None:
    """Subscribe: should not send error messages if socket closes before onSubscribe hooks
    resolves

    Adapted (the reference drives a fake socket and counts its sends): ``on_subscribe`` is held
    until the client has gone, then returns errors. Over the wire nothing can arrive after the
    close, so the test observes that ``on_error`` (called right before an ``error`` is sent)
    never runs, and that nothing is logged for the late outcome."""
    async with ref.connect("/onsubscribe-held-errors", token) as client:
        await init(client)
        await subscribe(client, "1", "{ getValue }")
        await ref.wait_for(token, "on_subscribe", id="1")
        await client.close(4321, "Bye bye!")
    await ref.wait_for(token, "on_close")
    await ref.release(token)  # on_subscribe may now return its errors
    await asyncio.sleep(QUIET)
    assert "on_error" not in await ref.event_names(token)


async def test_should_not_close_connection_if_a_subscription_iterable_throws(
    ref: RefServer, token: str
) -> None:
    """Subscribe: should not close connection if a subscription iterable throws"""
    ref.expect_log(r"RuntimeError: Subscribe Kaboom!$")  # logged by the server
    async with ref.connect("/graphql", token) as client:
        await init(client)
        await subscribe(client, "1", "subscription { throwing }")
        await ref.wait_for(token, "on_operation", id="1")
        assert await client.receive_raw() == (
            '{"id":"1","type":"error","payload":[{"message":"Subscribe Kaboom!"}]}'
        )
        await client.expect_nothing(QUIET)  # and not closed


async def test_should_not_send_complete_after_error_when_subscription_iterable_throws(
    ref: RefServer, token: str
) -> None:
    """Subscribe: should not send complete after error when subscription iterable throws"""
    ref.expect_log(r"RuntimeError: Subscribe Kaboom!$")  # logged by the server
    async with ref.connect("/graphql", token) as client:
        await init(client)
        await subscribe(client, "1", "subscription { throwing }")
        await ref.wait_for(token, "on_operation", id="1")
        assert await client.receive() == {
            "id": "1",
            "type": "error",
            "payload": [{"message": "Subscribe Kaboom!"}],
        }
        # per the protocol spec, no complete message should follow an error
        await client.expect_nothing(QUIET)


# -- Disconnect/close ------------------------------------------------------------------------


async def test_should_report_close_code_and_reason_to_disconnect_and_close_callback_after_connection_acknowledgement(  # noqa: E501
    ref: RefServer, token: str
) -> None:
    """Disconnect/close: should report close code and reason to disconnect and close callback
    after connection acknowledgement"""
    async with ref.connect("/graphql", token) as client:
        await init(client)
        await client.close(4321, "Byebye")
    await ref.wait_for(token, "on_close")
    events = await ref.events(token)
    assert [name for name, _ in events][-2:] == ["on_disconnect", "on_close"]
    code, reason = peer_close_seen_by_app(ref.name, 4321, "Byebye")
    assert events[-2][1] == events[-1][1] == {"code": code, "reason": reason}


async def test_should_trigger_the_close_callback_instead_of_disconnect_if_connection_is_not_acknowledged(  # noqa: E501
    ref: RefServer, token: str
) -> None:
    """Disconnect/close: should trigger the close callback instead of disconnect if connection
    is not acknowledged"""
    async with ref.connect("/graphql", token) as client:
        await client.close(4321, "Byebye")
    closed = await ref.wait_for(token, "on_close")
    code, reason = peer_close_seen_by_app(ref.name, 4321, "Byebye")
    assert closed == {"code": code, "reason": reason}
    hooks = [name for name in await ref.event_names(token) if name.startswith("on_")]
    assert hooks == ["on_close"]


async def test_should_dispose_of_subscriptions_on_close_even_if_added_late_to_the_subscriptions_list(  # noqa: E501
    ref: RefServer, token: str
) -> None:
    """Disconnect/close: should dispose of subscriptions on close even if added late to the
    subscriptions list

    ``on_operation`` holds the subscription's stream until the client has gone; the stream
    (wrapped to record it) must still be closed, and ``on_complete`` called."""
    async with ref.connect("/on-operation-held", token) as client:
        await init(client)
        await subscribe(client, "1", f'subscription {{ ping(key: "{token}") }}')
        await ref.wait_for(token, "on_operation", id="1")
        await client.close(4321, "Byebye")
    # The server saw the client go: the router records ASGI's websocket.disconnect; aiohttp has
    # no such event, and the operation's on_complete is the first sign of it there.
    gone = "on_complete" if ref.name == "aiohttp" else "websocket.disconnect"
    await ref.wait_for(token, gone)
    await ref.release(token)  # on_operation may now hand over the stream
    await ref.wait_for(token, "on_complete", id="1")
    await ref.wait_for(token, "aclosed", slow=False)  # the late stream was disposed of
    await ref.wait_for(token, "on_close")


async def test_should_dispose_of_all_subscriptions_on_close_even_if_some_return_is_problematic(
    ref: RefServer, token: str
) -> None:
    """Disconnect/close: should dispose of all subscriptions on close even if some return is
    problematic

    The first stream's ``aclose`` hangs until released; the second must be closed meanwhile."""
    async with ref.connect("/problematic-return", token) as client:
        await init(client)
        await subscribe(client, "1", f'subscription {{ ping(key: "{token}_slow") }}')
        await ref.wait_for(token, "on_operation", id="1")
        await subscribe(client, "2", f'subscription {{ ping(key: "{token}_ok") }}')
        await ref.wait_for(token, "on_operation", id="2")
        await client.close(4321, "Byebye")
    await ref.wait_for(token, "aclosed", slow=False)  # not held up by the slow one
    assert ["aclose", {"slow": True}] in [list(e) for e in await ref.events(token)]
    await ref.release(token)
    await ref.wait_for(token, "aclosed", slow=True)
    await ref.wait_for(token, "on_close")


# -- top level: subprotocol selection -------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["not", "me"], None),
        (["maybe", "me", "graphql-transport-wsnah"], None),
        (["almost", "next", "graphql-transport-ws", "one"], "graphql-transport-ws"),
        (["123", "graphql-transport-ws"], "graphql-transport-ws"),
        (["graphql-transport-ws", "graphql-transport-ws"], "graphql-transport-ws"),
        (["some", "graphql-transport-ws", "other-one", "third"], "graphql-transport-ws"),
        (["no", "graphql-TransPort-ws"], None),
    ],
)
async def test_should_only_accept_a_set_array_or_string_in_handle_protocol(
    ref: RefServer, offered: list[str], chosen: str | None
) -> None:
    """should only accept a Set, Array or string in handleProtocol

    Adapted: the reference calls ``handleProtocols`` with JavaScript values; over the wire the
    offers that a ``Sec-WebSocket-Protocol`` header can carry are checked (the non-string
    inputs have no wire form). An exact, case-sensitive match is chosen; otherwise no
    subprotocol is selected and the socket is closed 4406."""
    if ref.name == "daphne" and len(set(offered)) < len(offered):
        # autobahn refuses a Sec-WebSocket-Protocol header that repeats a value with HTTP 400,
        # before the application sees the handshake
        assert await handshake_status(ref.url(), subprotocols=offered) == 400
        return
    async with ref.connect(subprotocols=tuple(offered)) as client:
        assert client.subprotocol == chosen
        if chosen is None:
            assert_close(
                ref.name, await client.wait_closed(WAIT), 4406, "Subprotocol not acceptable"
            )
        else:
            await client.expect_nothing(QUIET)
