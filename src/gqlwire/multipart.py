"""Multipart HTTP (``multipart/mixed``): Apollo's subscription protocol, and incremental
delivery (``@defer``, ``@stream``).

Two framings of the same body shape (RFC 2046: each part starts with ``CRLF--boundary
CRLF``, its headers and a blank line, the body ends with ``CRLF--boundary--CRLF``):

- :class:`SubscriptionMultipartFraming`, asked for with ``subscriptionSpec="1.0"``
  (Apollo Client, Apollo Router): boundary ``graphql``, each result a part
  ``{"payload": <result>}``, a heartbeat part ``{}`` in silences, and a fatal error a
  part ``{"payload": null, "errors": [...]}`` before the end;
- :class:`IncrementalMultipartFraming`, asked for with a plain ``multipart/mixed`` (or
  ``deferSpec``/``incrementalSpec`` parameters): boundary ``-``, each part one result
  as it is (graphql-js 17's ``hasNext``, ``pending``, ``incremental``, ``completed``).

Each part is written with the delimiter that ends it, so that a client's parser, which
reads a part once it sees the next delimiter, gets every result as soon as it is
written. The rules: docs/streams.md.
"""

from __future__ import annotations

from typing import Final

import orjson

from .context import HTTPContext, TransportName
from .protocol.messages import JSONObject

MULTIPART_MIXED: Final = "multipart/mixed"

SUBSCRIPTION_SPEC: Final = "1.0"
"""The ``subscriptionSpec`` of Apollo's multipart subscription protocol."""

_PART_HEAD: Final = b"\r\ncontent-type: application/json; charset=utf-8\r\n\r\n"


class MultipartContext(HTTPContext):
    """The context of an operation over multipart HTTP (``transport == "multipart"``):
    an :class:`~gqlwire.HTTPContext` (method, headers, cookies, the response the
    application may adjust before the stream starts)."""

    __slots__ = ()

    transport: TransportName = "multipart"  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"<MultipartContext method={self.method!r}>"


class _MultipartFraming:
    __slots__ = ("_delimiter", "keep_alive_interval")

    boundary: str
    content_type: str

    def __init__(self, keep_alive_interval: float | None) -> None:
        self.keep_alive_interval = keep_alive_interval
        self._delimiter = b"\r\n--" + self.boundary.encode("ascii")

    def part(self, body: bytes) -> bytes:
        """One part and the delimiter after it."""
        return _PART_HEAD + body + self._delimiter

    def opening(self) -> bytes:
        return self._delimiter

    def complete(self, operation_id: str | None) -> bytes:
        return b""  # the body's closing delimiter ends it

    def keep_alive(self) -> bytes:
        return self.part(b"{}")

    def close(self) -> bytes:
        return b"--\r\n"  # after the last part's delimiter: the closing delimiter


class SubscriptionMultipartFraming(_MultipartFraming):
    """Apollo's multipart subscription protocol (``subscriptionSpec="1.0"``)."""

    __slots__ = ()

    boundary = "graphql"
    content_type = f'{MULTIPART_MIXED};boundary="graphql";subscriptionSpec="{SUBSCRIPTION_SPEC}"'

    def result(
        self, payload_json: bytes, operation_id: str | None, cursor: str | None = None
    ) -> bytes:
        return self.part(b'{"payload":' + payload_json + b"}")

    def errors(self, errors: list[JSONObject], operation_id: str | None) -> bytes:
        return self.part(orjson.dumps({"payload": None, "errors": errors}))


class IncrementalMultipartFraming(_MultipartFraming):
    """Incremental delivery over ``multipart/mixed``: every part one result."""

    __slots__ = ()

    boundary = "-"
    content_type = f'{MULTIPART_MIXED};boundary="-"'

    def __init__(self, keep_alive_interval: float | None = None) -> None:
        super().__init__(keep_alive_interval)

    def result(
        self, payload_json: bytes, operation_id: str | None, cursor: str | None = None
    ) -> bytes:
        return self.part(payload_json)

    def keep_alive(self) -> bytes:
        return b""  # this format has no heartbeat (never called: no interval)

    def errors(self, errors: list[JSONObject], operation_id: str | None) -> bytes:
        return self.part(orjson.dumps({"errors": errors, "hasNext": False}))


__all__ = [
    "MULTIPART_MIXED",
    "SUBSCRIPTION_SPEC",
    "IncrementalMultipartFraming",
    "MultipartContext",
    "SubscriptionMultipartFraming",
]
