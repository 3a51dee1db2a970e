"""The SSE parser with plain calls: the event stream rules of the HTML standard, chunk
boundaries anywhere, and its bound on one event."""

from __future__ import annotations

import pytest

from gqlwire.client.sse import EventTooLarge, ServerSentEvent, SSEParser

STREAM = (
    b":\n\n"  # graphql-sse's first comment
    b'event: next\ndata: {"data":{"count":1}}\n\n'
    b'id: 7\nevent: next\ndata: {"data":\n'
    b'data: {"count":2}}\n\n'
    b": keep-alive\n\n"
    b"event: complete\ndata:\n\n"
)
EVENTS = [
    ServerSentEvent("next", '{"data":{"count":1}}', ""),
    ServerSentEvent("next", '{"data":\n{"count":2}}', "7"),
    ServerSentEvent("complete", "", "7"),
]


def parse(chunks: list[bytes], limit: int = 1000) -> list[ServerSentEvent]:
    parser = SSEParser(limit)
    return [event for chunk in chunks for event in parser.feed(chunk)]


def test_events_comments_and_ids() -> None:
    assert parse([STREAM]) == EVENTS


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_chunk_boundaries_anywhere(size: int) -> None:
    text = STREAM.replace(b"count", "c\u00f6unt".encode())  # a two-byte character to cut
    chunks = [text[i : i + size] for i in range(0, len(text), size)]
    assert parse(chunks) == [
        ServerSentEvent(e.event, e.data.replace("count", "c\u00f6unt"), e.id) for e in EVENTS
    ]


@pytest.mark.parametrize("newline", [b"\r\n", b"\r", b"\n"])
def test_every_line_ending(newline: bytes) -> None:
    text = STREAM.replace(b"\n", newline)
    assert parse([text]) == EVENTS
    assert parse([text[i : i + 1] for i in range(len(text))]) == EVENTS  # CR, then LF


def test_the_standard_s_details() -> None:
    stream = (
        "\ufeffdata:no space\n\n"  # a BOM at the start; no space after the colon
        "data:  two spaces\n\n"  # only one space is removed
        "event: orphan\n\n"  # no data: not dispatched, and its type is forgotten
        "id: bad\0id\ndata\n\n"  # an id with NUL is ignored; a field without a colon
        "retry: 10\nunknown: x\ndata: after\n\n"
        "data: not dispatched without its blank line\n"
    ).encode()
    assert parse([stream]) == [
        ServerSentEvent("message", "no space", ""),
        ServerSentEvent("message", " two spaces", ""),
        ServerSentEvent("message", "", ""),
        ServerSentEvent("message", "after", ""),
    ]


def test_only_cr_lf_and_crlf_end_lines() -> None:
    assert parse([b"data: a\x0bb\x1cc\xc2\x85d\n\n"]) == [
        ServerSentEvent("message", "a\x0bb\x1cc\x85d", "")
    ]


def test_an_event_larger_than_the_limit_is_refused() -> None:
    parser = SSEParser(100)
    assert parser.feed(b"data: " + b"x" * 90 + b"\n\n") == [
        ServerSentEvent("message", "x" * 90, "")
    ]
    with pytest.raises(EventTooLarge):
        for _ in range(20):  # many small lines of one event
            parser.feed(b"data: " + b"x" * 10 + b"\n")
    with pytest.raises(EventTooLarge):
        SSEParser(100).feed(b"data: " + b"x" * 200)  # one line that never ends
