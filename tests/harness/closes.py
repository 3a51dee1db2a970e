"""The close a client sees when gqlwire closes with (code, reason), per server.

daphne's autobahn drops every reason, and refuses to send any close code but 1000 and
3000-4999: there the socket is still closed, with 1000 in place of a code it refuses.
"""

from __future__ import annotations

from typing import Any

from tests.harness.wsclient import WSClient

REASONLESS_CLOSE = frozenset({"daphne"})
"""Servers whose clients never see the reason of a close the app sends."""


def daphne_can_send(code: int) -> bool:
    """daphne's autobahn refuses to send any close code but 1000 and 3000-4999."""
    return code == 1000 or 3000 <= code <= 4999


def expected_close(server_name: str, code: int, reason: str) -> dict[str, Any]:
    """The close a client sees when gqlwire closes with (code, reason) on ``server_name``,
    as ``{"code": ..., "reason": ...}``."""
    if server_name == "daphne" and not daphne_can_send(code):
        code = 1000
    return {"code": code, "reason": "" if server_name in REASONLESS_CLOSE else reason}


def assert_close(
    client: WSClient, closed: tuple[int, str], code: int, reason: str | None, server_name: str
) -> None:
    """The close code, and the reason where the server transmits reasons.

    daphne drops every reason, and cannot send 1001, 1009 or 1011 at all: there the
    socket must still be closed, with 1000 in place of a code it refuses.
    """
    expected = code
    if server_name == "daphne" and not daphne_can_send(code):
        expected = 1000
    assert closed[0] == expected, f"closed with {closed}, expected {expected}"
    if reason is not None and server_name != "daphne":
        assert closed[1] == reason, f"closed with {closed}, expected reason {reason!r}"
