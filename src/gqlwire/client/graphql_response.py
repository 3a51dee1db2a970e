"""What an HTTP response or an SSE ``next`` event means to the client: a result, request
errors, or a broken response. Pure functions, no I/O.

The rule that makes HTTP and SSE report like WebSocket: a payload *with* a ``data``
entry is a result (returned or yielded, even with ``errors``), as a ``next`` message
is; a payload with ``errors`` and *no* ``data`` is a request error (the document did
not parse or validate, variables did not coerce), raised as :class:`GraphQLErrors`, as
an ``error`` message is.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from .errors import BadResponse, GraphQLErrors, HTTPStatusError

__all__ = ["REQUEST_ERROR_STATUSES", "interpret_payload", "interpret_response", "media_type"]

REQUEST_ERROR_STATUSES: Final = frozenset({400, 422})
"""The statuses GraphQL over HTTP uses for request errors (422 with
``application/graphql-response+json``, 400 for a document that does not parse and for
legacy ``application/json`` clients)."""

_BODY_SHOWN = 200  # characters of an unexpected body kept in an error


def media_type(content_type: str | None) -> str:
    """``application/json`` of ``Application/JSON; charset=utf-8``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_json(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def _errors_of(payload: object) -> list[dict[str, Any]] | None:
    """The payload's ``errors``, when it is a non-empty list of error objects."""
    if not isinstance(payload, dict):
        return None
    errors = payload.get("errors")
    if isinstance(errors, list) and errors and all(isinstance(e, dict) for e in errors):
        return errors
    return None


def interpret_payload(payload: object, where: str) -> dict[str, Any]:
    """The result in `payload` (a decoded response body or ``next`` event), or raise
    :class:`GraphQLErrors` for request errors and :class:`BadResponse` for anything
    else; `where` names the source in the message."""
    if not isinstance(payload, dict):
        raise BadResponse(detail=f"{where} is not a JSON object")
    if "data" in payload:
        if "errors" in payload and _errors_of(payload) is None:
            raise BadResponse(detail=f"{where} has errors that are not a list of error objects")
        return payload
    errors = _errors_of(payload)
    if errors is None:
        raise BadResponse(detail=f"{where} has neither data nor a list of errors")
    raise GraphQLErrors(errors)


def _decode(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _NOT_JSON


_NOT_JSON: Final = object()


def interpret_response(
    url: str, status: int, reason: str, content_type: str | None, body: bytes
) -> dict[str, Any]:
    """The result of a GraphQL-over-HTTP response, or the error it means.

    - 2xx: a JSON GraphQL response (else :class:`BadResponse`): a result, or request
      errors (legacy servers answer them with 200).
    - 400 and 422 with a JSON body holding ``errors`` and no ``data``: request errors.
    - Every other status: :class:`HTTPStatusError`.
    """
    payload = _decode(body) if _is_json(content_type) else _NOT_JSON
    if 200 <= status < 300:
        if payload is _NOT_JSON:
            shown = media_type(content_type) or "no Content-Type"
            raise BadResponse(
                detail=f"the response from {url} is not a JSON GraphQL response ({shown})"
            )
        return interpret_payload(payload, f"the response from {url}")
    errors = _errors_of(payload)
    if (
        status in REQUEST_ERROR_STATUSES
        and errors is not None
        and isinstance(payload, dict)
        and "data" not in payload
    ):
        raise GraphQLErrors(errors)
    text = body[:_BODY_SHOWN].decode("utf-8", errors="replace")
    detail = (
        "; ".join(str(e.get("message", e)) for e in errors) if errors else " ".join(text.split())
    )
    message = f"{url} answered HTTP {status} {reason}".rstrip()
    raise HTTPStatusError(
        f"{message}: {detail}" if detail else message, status, body=text, errors=errors
    )
