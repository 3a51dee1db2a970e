"""Options are checked when the server is built, naming the option, not when the first
connection or operation uses them: a misspelt name, a hook that is not a function, a
value of the wrong type."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from examples.hello import schema
from gqlwire import GraphQLServer
from gqlwire.options import ServerOptions

FUNCTION_OPTIONS = [
    "parse",
    "validate",
    "execute",
    "subscribe",
    "on_connect",
    "on_disconnect",
    "on_close",
    "on_subscribe",
    "on_operation",
    "on_next",
    "on_error",
    "on_complete",
    "share_key",
]


@pytest.mark.parametrize("option", FUNCTION_OPTIONS)
@pytest.mark.parametrize("value", ["x", True, {"token": "secret"}], ids=["str", "bool", "dict"])
def test_a_hook_that_is_not_callable_is_refused(option: str, value: Any) -> None:
    with pytest.raises(TypeError) as refused:
        GraphQLServer(schema, **{option: value})
    assert str(refused.value) == (
        f"GraphQLServer option {option} must be a function or a coroutine function, got {value!r}"
    )


def test_replace_checks_too() -> None:
    with pytest.raises(TypeError, match="option on_connect must be a function"):
        GraphQLServer(schema).replace(on_connect="x")


async def allow(*_args: Any) -> bool:
    return True


@pytest.mark.parametrize("option", FUNCTION_OPTIONS)
def test_functions_coroutine_functions_and_none_are_taken(option: str) -> None:
    for value in (allow, lambda *_args: None, None):
        given: dict[str, Any] = {option: value}
        assert getattr(GraphQLServer(schema, **given).options, option) is value


def test_every_option_is_a_keyword_only_parameter_with_the_options_default() -> None:
    parameters = dict(inspect.signature(GraphQLServer).parameters)
    assert parameters.pop("schema").kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    fields = {f.name: f.default for f in dataclasses.fields(ServerOptions) if f.name != "schema"}
    assert {name: p.default for name, p in parameters.items()} == fields
    assert {p.kind for p in parameters.values()} == {inspect.Parameter.KEYWORD_ONLY}


def test_a_misspelt_option_is_refused_by_python() -> None:
    misspelt: dict[str, Any] = {"keepalive": 5}  # mypy refuses it too, when written out
    with pytest.raises(TypeError, match="unexpected keyword argument 'keepalive'"):
        GraphQLServer(schema, **misspelt)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("keep_alive", "12", "keep_alive must be a number of seconds or None, got '12'"),
        ("cleanup_timeout", None, "cleanup_timeout must be a number of seconds, got None"),
        ("max_message_size", 1.5, "max_message_size must be an int or None, got 1.5"),
        ("max_tokens", True, "max_tokens must be an int or None, got True"),
        ("document_cache_size", None, "document_cache_size must be an int, got None"),
        ("debug", "yes", "debug must be True or False, got 'yes'"),
        ("hide_suggestions", 0, "hide_suggestions must be True, False or None, got 0"),
        ("allowed_origins", "https://a.example", "allowed_origins must be a list of origins"),
        ("roots", ["query"], "roots must be a mapping or None, got ['query']"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(option: str, value: Any, message: str) -> None:
    with pytest.raises(TypeError) as refused:
        GraphQLServer(schema, **{option: value})
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize(
    ("option", "value", "error", "message"),
    [
        ("sse_single_connection", 1, TypeError, "sse_single_connection must be True or False"),
        ("sse_reservation_timeout", 0, ValueError, "sse_reservation_timeout must be > 0 or None"),
        ("sse_reservation_timeout", "10", ValueError, "sse_reservation_timeout must be > 0"),
        ("sse_max_streams", 0, ValueError, "sse_max_streams must be an int >= 1 or None"),
        ("sse_max_streams", 2.5, ValueError, "sse_max_streams must be an int >= 1 or None"),
    ],
)
def test_the_single_connection_mode_options_are_checked(
    option: str, value: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        GraphQLServer(schema, **{option: value})
    GraphQLServer(schema, sse_reservation_timeout=None, sse_max_streams=None)


@pytest.mark.parametrize(
    ("option", "value", "error", "message"),
    [
        ("sse", 1, TypeError, "sse must be True or False, got 1"),
        ("multipart", None, TypeError, "multipart must be True or False, got None"),
        ("sse_keep_alive", None, TypeError, "sse_keep_alive must be a number of seconds"),
        ("sse_keep_alive", 0, ValueError, "sse_keep_alive must be > 0, got 0"),
        ("multipart_heartbeat", -1, ValueError, "multipart_heartbeat must be > 0, got -1"),
        ("multipart_heartbeat", "5", TypeError, "multipart_heartbeat must be a number"),
        ("websocket", 0, TypeError, "websocket must be"),
        ("http_json", "no", TypeError, "http_json must be"),
    ],
)
def test_the_stream_options_are_checked(
    option: str, value: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        GraphQLServer(schema, **{option: value})
    GraphQLServer(schema, sse=False, multipart=False, sse_keep_alive=0.5, multipart_heartbeat=1)


def test_turning_every_transport_off_is_refused() -> None:
    with pytest.raises(ValueError, match="every transport is turned off"):
        GraphQLServer(schema, websocket=False, http_json=False, sse=False, multipart=False)
    # One left is enough: the single connection mode of SSE, say.
    GraphQLServer(
        schema,
        websocket=False,
        http_json=False,
        sse=False,
        multipart=False,
        sse_single_connection=True,
    )
