"""Options that must be functions are refused when the server is built, naming the option,
not when the first connection or operation calls them."""

from __future__ import annotations

from typing import Any

import pytest

from examples.hello import schema
from gqlwire import GraphQLServer

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
        assert getattr(GraphQLServer(schema, **{option: value}).options, option) is value
