"""Close codes have one home: the ``CloseCode`` enum, its reasons, the one reason limiter,
and the client's retry sets built from them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gqlwire
from gqlwire import CloseCode as PublicCloseCode
from gqlwire.client import is_fatal_close_code, supervisor
from gqlwire.client.errors import BadResponse, ConnectionAckTimeout, ConnectionClosed
from gqlwire.client.retry import FATAL_CLOSE_CODES, RETRIED_STANDARD_CODES, ConnectionEnd
from gqlwire.protocol import CloseCode, limit_close_reason
from gqlwire.protocol.codes import (
    INTERNAL_SERVER_ERROR_REASON,
    MAX_CLOSE_REASON_BYTES,
    REASONS,
    STANDARD_CLOSE_CODES,
)

SRC = Path(gqlwire.__file__).resolve().parent

# Every code either side sends, records or decides on, by number.
EVERY_CODE = {
    1000: "NORMAL_CLOSURE",
    1001: "GOING_AWAY",
    1002: "PROTOCOL_ERROR",
    1005: "NO_STATUS_RECEIVED",
    1006: "ABNORMAL_CLOSURE",
    1007: "INVALID_FRAME_PAYLOAD_DATA",
    1008: "POLICY_VIOLATION",
    1009: "MESSAGE_TOO_BIG",
    1011: "INTERNAL_ERROR",
    1012: "SERVICE_RESTART",
    1013: "TRY_AGAIN_LATER",
    1014: "BAD_GATEWAY",
    4004: "BAD_RESPONSE",
    4005: "INTERNAL_CLIENT_ERROR",
    4400: "BAD_REQUEST",
    4401: "UNAUTHORIZED",
    4403: "FORBIDDEN",
    4406: "SUBPROTOCOL_NOT_ACCEPTABLE",
    4408: "CONNECTION_INITIALISATION_TIMEOUT",
    4409: "SUBSCRIBER_ALREADY_EXISTS",
    4429: "TOO_MANY_INITIALISATION_REQUESTS",
    4499: "TERMINATED",
    4500: "INTERNAL_SERVER_ERROR",
    4504: "CONNECTION_ACKNOWLEDGEMENT_TIMEOUT",
}


def test_one_enum_holds_every_code_with_its_number() -> None:
    assert {int(code): code.name for code in CloseCode} == EVERY_CODE
    assert PublicCloseCode is CloseCode
    for number, name in EVERY_CODE.items():
        assert CloseCode(number) is CloseCode[name]
        assert CloseCode[name] == number  # an IntEnum: usable wherever an int is


def test_every_member_has_a_one_line_comment_above_it() -> None:
    lines = (SRC / "protocol" / "codes.py").read_text().splitlines()
    for name in EVERY_CODE.values():
        (index,) = [i for i, line in enumerate(lines) if line.strip().startswith(f"{name} = ")]
        assert lines[index - 1].strip().startswith("# "), name


def test_the_fixed_reasons_are_unchanged_and_the_clients_are_there_too() -> None:
    assert REASONS[CloseCode.BAD_REQUEST] == "Invalid message received"
    assert REASONS[CloseCode.UNAUTHORIZED] == "Unauthorized"
    assert REASONS[CloseCode.FORBIDDEN] == "Forbidden"
    assert REASONS[CloseCode.SUBPROTOCOL_NOT_ACCEPTABLE] == "Subprotocol not acceptable"
    assert (
        REASONS[CloseCode.CONNECTION_INITIALISATION_TIMEOUT] == "Connection initialisation timeout"
    )
    assert REASONS[CloseCode.TOO_MANY_INITIALISATION_REQUESTS] == (
        "Too many initialisation requests"
    )
    assert REASONS[CloseCode.NORMAL_CLOSURE] == "Normal Closure"
    assert REASONS[CloseCode.BAD_RESPONSE] == "Bad response"
    assert REASONS[CloseCode.INTERNAL_CLIENT_ERROR] == "Internal client error"
    assert REASONS[CloseCode.TERMINATED] == "Keep-alive timeout"
    # No fixed text for the codes whose reason is built per case.
    assert CloseCode.INTERNAL_SERVER_ERROR not in REASONS
    assert CloseCode.SUBSCRIBER_ALREADY_EXISTS not in REASONS
    assert ConnectionAckTimeout().reason == "Connection acknowledgement timeout"
    assert ConnectionAckTimeout().code == 4504
    assert BadResponse().code == 4004


# -- the one reason limiter ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "fits"),
    [
        ("", True),
        ("x" * 123, True),
        ("x" * 124, False),
        ("ü" * 61 + "x", True),  # 123 bytes in 62 characters
        ("ü" * 62, False),  # 124 bytes
        ("€" * 41, True),  # 123 bytes in 41 characters
        ("€" * 41 + "x", False),
    ],
)
def test_the_limit_is_123_utf8_bytes_with_either_sides_fallback(reason: str, fits: bool) -> None:
    assert MAX_CLOSE_REASON_BYTES == 123
    assert limit_close_reason(reason) == (reason if fits else INTERNAL_SERVER_ERROR_REASON)
    assert limit_close_reason(reason, "Bad response") == (reason if fits else "Bad response")


def test_server_and_client_share_the_limiter() -> None:
    assert vars(supervisor)["limit_close_reason"] is limit_close_reason
    # No second limiter: nothing in the package but codes.py measures a reason.
    for path in SRC.rglob("*.py"):
        if path.name != "codes.py":
            text = path.read_text()
            assert "MAX_CLOSE_REASON_BYTES" not in text, path
            assert "def fit_close_reason" not in text, path


# -- the client's retry rules ----------------------------------------------------------------


def test_the_fatal_set_is_graphql_ws_codes_that_would_fail_again() -> None:
    assert {int(code) for code in FATAL_CLOSE_CODES} == {
        4500,
        4005,
        4400,
        4004,
        4401,
        4406,
        4409,
        4429,
    }
    assert all(isinstance(code, CloseCode) for code in FATAL_CLOSE_CODES)
    assert all(isinstance(code, CloseCode) for code in RETRIED_STANDARD_CODES)


@pytest.mark.parametrize(
    "code",
    [
        CloseCode.FORBIDDEN,
        CloseCode.CONNECTION_INITIALISATION_TIMEOUT,
        CloseCode.CONNECTION_ACKNOWLEDGEMENT_TIMEOUT,
        CloseCode.TERMINATED,
    ],
)
def test_the_deliberately_retried_graphql_ws_codes_are_commented(code: CloseCode) -> None:
    assert not is_fatal_close_code(code)
    source = (SRC / "client" / "retry.py").read_text()
    assert f"# {code.name} ({int(code)}) is retried" in source


def test_every_code_of_the_enum_is_classified() -> None:
    retried = {
        CloseCode.NORMAL_CLOSURE,
        CloseCode.GOING_AWAY,
        CloseCode.NO_STATUS_RECEIVED,
        CloseCode.ABNORMAL_CLOSURE,
        CloseCode.SERVICE_RESTART,
        CloseCode.TRY_AGAIN_LATER,
        CloseCode.BAD_GATEWAY,
        CloseCode.FORBIDDEN,
        CloseCode.CONNECTION_INITIALISATION_TIMEOUT,
        CloseCode.TERMINATED,
        CloseCode.CONNECTION_ACKNOWLEDGEMENT_TIMEOUT,
    }
    assert {code for code in retried if code < 2000} == RETRIED_STANDARD_CODES
    for code in CloseCode:
        assert is_fatal_close_code(code) is (code not in retried), code.name
    # Codes the enum does not name follow the ranges: RFC 6455's are fatal, others not.
    assert list(STANDARD_CLOSE_CODES) == list(range(1000, 2000))
    assert is_fatal_close_code(1003)
    assert is_fatal_close_code(1999)
    assert not is_fatal_close_code(999)
    assert not is_fatal_close_code(2000)
    assert not is_fatal_close_code(3000)


def test_client_errors_carry_plain_int_codes() -> None:
    error = ConnectionClosed(CloseCode.TERMINATED, "Keep-alive timeout")
    assert type(error.code) is int
    assert error.args == (4499, "Keep-alive timeout")
    assert str(error) == "connection closed: 4499 Keep-alive timeout"
    unopened = ConnectionEnd(None).exception()  # no socket at all: an abnormal closure
    assert isinstance(unopened, ConnectionClosed)
    assert unopened.code == 1006


# -- no close code outside the enum ---------------------------------------------------------

_CODE_NAME_WORDS = ("CLOSURE", "CODE", "ERROR", "TIMEOUT", "RESPONSE")
_CLOSE_CALLS = {
    "close",
    "_end",
    "Close",
    "ConnectionClosed",
    "ConnectionEnd",
    "_close",
    "_peer_gone",
}


def _looks_like_close_code(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and type(node.value) is int
        and (1000 <= node.value <= 1015 or 3000 <= node.value <= 4999)
    )


def _literal_close_codes(tree: ast.AST) -> list[int]:
    """Line numbers where an int literal is used as a close code: a ``code`` argument,
    keyword, default, dict entry or comparison, or the first argument of a close."""
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else None
            name = node.func.id if isinstance(node.func, ast.Name) else name
            if name in _CLOSE_CALLS and node.args:
                found.append(node.args[0])
            found += [k.value for k in node.keywords if k.arg == "code"]
        elif isinstance(node, ast.Dict):
            found += [
                v
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and k.value == "code"
            ]
        elif isinstance(node, ast.Compare):
            found += [node.left, *node.comparators]
        elif isinstance(node, ast.arguments):
            positional = [*node.posonlyargs, *node.args]
            with_defaults = positional[len(positional) - len(node.defaults) :]
            pairs = [
                *zip(with_defaults, node.defaults, strict=True),
                *zip(node.kwonlyargs, node.kw_defaults, strict=True),
            ]
            found += [d for a, d in pairs if d is not None and "code" in a.arg]
        elif isinstance(node, ast.IfExp):
            found += [node.body, node.orelse]
        elif isinstance(node, ast.Set):
            found += node.elts
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if any(word in name for name in names for word in _CODE_NAME_WORDS):
                found.append(node.value)
    return sorted(n.lineno for n in found if _looks_like_close_code(n))


def test_the_scan_finds_literal_close_codes() -> None:
    sample = """
def f(code=1001, *, close_code=1011): pass
ws.close(1000, "")
send({"type": "websocket.close", "code": 1000})
x = 1006 if code is None else code
if code == 4500: pass
RETRIED = frozenset({1000, 1001})
ABNORMAL_CLOSURE: Final = 1006
cache = LRU(maxsize=1000)
DEFAULT_MAX_QUEUED = 1000
"""
    assert _literal_close_codes(ast.parse(sample)) == [2, 2, 3, 4, 5, 6, 7, 7, 8]


def test_no_literal_close_code_remains_in_the_package() -> None:
    for path in SRC.rglob("*.py"):
        if path.name == "codes.py":
            continue
        assert _literal_close_codes(ast.parse(path.read_text())) == [], path
