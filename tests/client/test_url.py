"""``Client(url)`` refuses, when it is created, a URL it could never connect to: the error
names the URL and what is expected, instead of a connection failure at the first operation."""

from __future__ import annotations

import pytest

from gqlwire import Client
from gqlwire.client import HTTPClient

EXPECTED = "expected ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not-a-url", "is not a URL"),
        ("", "is not a URL"),
        ("127.0.0.1:8000/graphql", "is not a URL"),
        (
            "http://127.0.0.1:8000/graphql",
            "is HTTP (http://): the client speaks GraphQL over WebSocket",
        ),
        (
            "https://api.example/graphql",
            "is HTTP (https://): the client speaks GraphQL over WebSocket",
        ),
        ("ftp://files.example/graphql", "has the scheme 'ftp'"),
        ("ws:///graphql", "has no host"),
        ("ws://:8000/graphql", "has no host"),
        ("ws://127.0.0.1:port/graphql", "has an invalid port"),
    ],
)
def test_a_url_that_is_not_a_websocket_url_is_refused_at_once(url: str, problem: str) -> None:
    with pytest.raises(ValueError) as refused:
        Client(url)
    assert str(refused.value) == f"Client URL {url!r} {problem}; {EXPECTED}"


def test_a_url_that_is_not_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="url must be a ws:// or wss:// URL string"):
        Client(b"ws://127.0.0.1/graphql")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "ws://127.0.0.1:8000/graphql",
        "wss://api.example/graphql",
        "ws://[::1]:8000/",
        "WSS://API.example",
    ],
)
def test_websocket_urls_are_taken(url: str) -> None:
    assert Client(url).url == url


HTTP_EXPECTED = "expected http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not-a-url", "is not a URL"),
        (
            "ws://127.0.0.1:8000/graphql",
            "is a WebSocket URL (ws://): HTTPClient speaks HTTP and SSE",
        ),
        ("ftp://files.example/graphql", "has the scheme 'ftp'"),
        ("http:///graphql", "has no host"),
        ("https://127.0.0.1:port/graphql", "has an invalid port"),
    ],
)
def test_http_client_refuses_what_is_not_an_http_url(url: str, problem: str) -> None:
    with pytest.raises(ValueError) as refused:
        HTTPClient(url)
    assert str(refused.value) == f"HTTPClient URL {url!r} {problem}; {HTTP_EXPECTED}"


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"headers": "Authorization: x"}, TypeError, "headers must be a dict or a function"),
        ({"timeout": -1}, ValueError, "timeout must be >= 0"),
        ({"idle_timeout": "1"}, TypeError, "idle_timeout must be a number of seconds"),
        ({"retry_attempts": 1.5}, TypeError, "retry_attempts must be an int"),
        ({"retry_wait": 3}, TypeError, "retry_wait must be callable"),
        ({"max_response_size": 0}, ValueError, "max_response_size must be > 0"),
    ],
)
def test_http_client_refuses_bad_options(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        HTTPClient("https://api.example/graphql", **options)  # type: ignore[arg-type]
    assert HTTPClient("https://api.example/graphql").url == "https://api.example/graphql"
