"""GraphQL over HTTP on the WebSocket endpoint's URL, sans-I/O.

An adapter turns a server's request into an :class:`HTTPRequest`, awaits
:func:`handle_http_request` and writes the :class:`HTTPResponse` back; nothing here
knows a server. Hooks get an :class:`~gqlwire.HTTPContext` and the operation id ``None``.
The rules (methods, media types, status codes, cross-site checks) are in docs/http.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import parse_qs, urlsplit

import orjson
from graphql import GraphQLError, OperationType, get_operation_ast

from .context import Headers, HTTPContext, HTTPResponseDraft
from .errors import ServerError
from .fanout.resume import CURSOR_EXTENSION
from .graphiql import graphiql_response
from .hooks import call_hook
from .http_stream import (
    RETRY_AFTER_SECONDS,
    Framing,
    HTTPStreamResponse,
    StreamedOperation,
)
from .incremental import uses_incremental
from .multipart import (
    MULTIPART_MIXED,
    SUBSCRIPTION_SPEC,
    IncrementalMultipartFraming,
    MultipartContext,
    SubscriptionMultipartFraming,
)
from .operation import Admission, Operation
from .protocol import ErrorStage
from .protocol.codes import INTERNAL_SERVER_ERROR_REASON
from .protocol.messages import JSONObject
from .sse import EVENT_STREAM, SSEContext, SSEFraming

if TYPE_CHECKING:
    from .connection import ConnectionRegistry
    from .options import ServerOptions
    from .runtime import ServerRuntime

logger = logging.getLogger("gqlwire")

GRAPHQL_RESPONSE_JSON: Final = "application/graphql-response+json"
APPLICATION_JSON: Final = "application/json"
ALLOWED_METHODS: Final = ("GET", "POST")


@dataclass(frozen=True, slots=True)
class HTTPRequest:
    """One HTTP request, as an adapter hands it over."""

    method: str
    """Upper case."""
    headers: Headers
    """Case-insensitive; a repeated header's values joined with ``", "``."""
    query_string: str
    """Raw (percent-encoded), without the ``?``."""
    body: bytes
    extra: dict[str, Any]
    """Transport details: ``{"scope": ...}`` on ASGI, ``{"request": ...}`` on aiohttp."""


@dataclass(frozen=True, slots=True)
class HTTPResponse:
    """What to answer: the adapter adds ``Content-Length``."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class HTTPRoute(Protocol):
    """Requests of the endpoint that another module answers before the rules below:
    SSE's single connection mode (:mod:`gqlwire.sse_single`)."""

    def claims(self, request: HTTPRequest) -> bool:
        """Whether this route answers ``request``."""

    async def handle(self, request: HTTPRequest) -> HTTPResponse | HTTPStreamResponse:
        """Answer ``request`` (its origin was allowed)."""


async def handle_http_request(
    runtime: ServerRuntime,
    request: HTTPRequest,
    registry: ConnectionRegistry | None = None,
    routes: Sequence[HTTPRoute] = (),
) -> HTTPResponse | HTTPStreamResponse:
    """Answer one request on the endpoint: GraphQL over HTTP, or a stream (Server-Sent
    Events, multipart HTTP) when ``Accept`` asks for one (the rules: docs/http.md,
    docs/streams.md). ``registry``: where open streams are counted and closed;
    ``routes``: the server's routes, tried first."""
    options = runtime.options
    for route in routes:
        if route.claims(request):
            if not options.origin_allowed(request.headers.get("origin")):
                return error_response(403, "Origin not allowed")
            return await route.handle(request)
    refusal = screen_request(request, runtime)
    if isinstance(refusal, HTTPResponse):
        return refusal
    screened = refusal
    choice = negotiate_transports(request.headers.get("accept"), options, screened.kind)
    if choice is None:
        return not_acceptable(options, screened.kind)
    context = choice.context_class(request.method, request.headers, request.extra)
    try:
        admitted = await call_hook(options.on_connect, context)
    except Exception as error:
        return failure_response(error, "on_connect", options.debug)
    if admitted is False:
        return with_response_draft(
            error_response(403, "Forbidden"), context.response, options.debug
        )
    if screened.malformed is not None:
        status = screened.malformed.status
        if status == 422 and choice.media_type != GRAPHQL_RESPONSE_JSON:
            status = 400  # legacy and streaming clients know only 400 for a bad request
        response = error_response(status, str(screened.malformed))
        return with_response_draft(response, context.response, options.debug)
    assert screened.payload is not None
    if choice.transport is not Transport.JSON:
        return await stream_operation(runtime, registry, request, context, screened.payload, choice)

    result = _HTTPResult()
    # No operation id over HTTP: hooks get None (docs/http.md).
    operation = Operation(
        runtime,
        context,
        None,
        screened.payload,
        result,
        admit=_admission(request.method, options),
    )
    await operation.run()
    response = result.response(choice.media_type, options.debug)
    if not result.raised:
        response = with_response_draft(response, context.response, options.debug)
    return response


# -- screening -----------------------------------------------------------------------------


class OperationKind(Enum):
    """What a request asks for, as far as choosing its transport goes."""

    SINGLE = "single"
    """A query or mutation answered by one result (or a request we cannot read: its
    error is one response)."""
    INCREMENTAL = "incremental"
    """A query or mutation that uses ``@defer`` or ``@stream``."""
    SUBSCRIPTION = "subscription"


@dataclass(frozen=True, slots=True)
class ScreenedRequest:
    """A request that passed the checks before negotiation: its parameters (or why they
    cannot be read, answered after ``on_connect``) and the kind of its operation."""

    kind: OperationKind
    payload: JSONObject | None = None
    malformed: MalformedRequest | None = field(default=None)


def screen_request(request: HTTPRequest, runtime: ServerRuntime) -> HTTPResponse | ScreenedRequest:
    """The checks that need no application code (method, origin, GraphiQL, cross-site
    requests), then the request's parameters and the kind of its operation.

    The parameters are read before ``on_connect`` because the kind of operation picks
    the transport, and the transport the context ``on_connect`` is given; a malformed
    request is still answered only after ``on_connect`` (docs/http.md).
    """
    options = runtime.options
    if request.method not in ALLOWED_METHODS:
        return error_response(
            405,
            f"Method {request.method} is not allowed: use GET or POST",
            [("allow", ", ".join(ALLOWED_METHODS))],
        )
    if not options.origin_allowed(request.headers.get("origin")):
        return error_response(403, "Origin not allowed")
    # A browser opening the URL gets GraphiQL (docs/graphiql.md): static, before the
    # cross-site check (a navigation sends no preflight header) and without on_connect.
    if options.graphiql:
        page = graphiql_response(request.method, request.query_string, request.headers)
        if page is not None:
            return HTTPResponse(*page)
    refusal = (
        cross_site_refusal(request, options.trusted_origins) if options.csrf_prevention else None
    )
    if refusal is not None:
        return refusal
    try:
        payload = read_request_parameters(request)
    except MalformedRequest as error:
        return ScreenedRequest(OperationKind.SINGLE, malformed=error)
    return ScreenedRequest(_operation_kind(payload, runtime), payload)


def _operation_kind(payload: JSONObject, runtime: ServerRuntime) -> OperationKind:
    """The kind of the operation the request names; :attr:`OperationKind.SINGLE` when
    its document does not parse (the operation reports that) or names no operation.

    Parsed by the runtime's document cache (with its token limit), where the operation
    then finds it: each text is parsed once."""
    if runtime.options.parse is not None:
        return OperationKind.SINGLE  # application code: it runs once, in the operation
    try:
        document = runtime.documents.parse(payload["query"])
    except (GraphQLError, RecursionError):
        return OperationKind.SINGLE
    operation = get_operation_ast(document, payload.get("operationName"))
    if operation is None:
        return OperationKind.SINGLE
    if operation.operation is OperationType.SUBSCRIPTION:
        return OperationKind.SUBSCRIPTION
    return OperationKind.INCREMENTAL if uses_incremental(document) else OperationKind.SINGLE


# -- cross-site requests ------------------------------------------------------------------

SIMPLE_CONTENT_TYPES: Final = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)
"""The content types a browser sends cross-site without asking the server first."""

PREFLIGHT_HEADERS: Final = (
    "graphql-preflight",
    "apollo-require-preflight",
    "x-apollo-operation-name",
)
"""Headers a page cannot add to a cross-site request without the browser's preflight."""


def cross_site_refusal(
    request: HTTPRequest, trusted_origins: frozenset[str] | None = None
) -> HTTPResponse | None:
    """The answer to a request another site's page could have made a visitor's browser
    send (with the visitor's cookies) without a CORS preflight, or ``None``.

    A ``POST`` runs only with ``Content-Type: application/json``, which no form and no
    simple cross-site request can send, so it is refused here when its content type is
    not one (415), before ``on_connect`` or anything of the application runs.

    A ``GET`` carries no body. A browser says where it comes from: ``Sec-Fetch-Site``
    (every current browser), else ``Origin``. A ``GET`` that a browser sends from another
    site is refused (400) unless it carries a header a simple request cannot have (a
    non-simple ``Content-Type``, or one of :data:`PREFLIGHT_HEADERS`, which only a
    preflight the server's CORS policy granted lets through) or its origin is one of
    ``trusted_origins``. A request with neither header is not a browser's cross-site
    request (or comes from a browser too old to send either, whose only cross-site
    requests are ``<img>``-like): it runs, so that API clients need no extra header. A
    query whose resolvers have side effects can then not be triggered by an ``<img>``,
    a link or a form on another site.
    """
    headers = request.headers
    if request.method == "POST":
        try:
            _json_media_type(headers.get("content-type"))
        except MalformedRequest as error:
            return error_response(error.status, str(error))
        return None
    if not _from_another_site(headers, trusted_origins or frozenset()):
        return None
    content_type = headers.get("content-type")
    if content_type is not None and parse_media_type(content_type)[0] not in SIMPLE_CONTENT_TYPES:
        return None
    if any(headers.get(name) for name in PREFLIGHT_HEADERS):
        return None
    return error_response(
        400,
        "GET request from another site refused as a possible cross-site request forgery: "
        "send it with a GraphQL-Preflight: 1 header (or use POST with Content-Type: "
        "application/json)",
    )


SAME_ORIGIN_FETCH_SITES: Final = frozenset({"same-origin", "none"})
"""``Sec-Fetch-Site`` values of a request the page's own origin (or the user) made."""


def _from_another_site(headers: Headers, trusted_origins: frozenset[str]) -> bool:
    """Whether a browser sent this request on behalf of a page of another origin."""
    origin = headers.get("origin")
    if origin is not None and origin in trusted_origins:
        return False
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site.strip().lower() not in SAME_ORIGIN_FETCH_SITES
    if origin is None:
        return False
    host = headers.get("host")
    # An opaque origin ("null": sandboxed frames, file: pages) matches no host.
    return host is None or urlsplit(origin.strip()).netloc.lower() != host.strip().lower()


# -- requests --------------------------------------------------------------------------


class MalformedRequest(Exception):
    """A request that is not a well-formed GraphQL-over-HTTP request."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def read_request_parameters(request: HTTPRequest) -> JSONObject:
    """The request's ``query``, ``variables``, ``operationName`` and ``extensions``, as
    the payload dict an operation runs with (only the parameters given).

    Raises :class:`MalformedRequest` with the status to answer.
    """
    if request.method == "GET":
        raw = _query_parameters(request.query_string)
    else:
        raw = _json_body(request)
    return _checked_parameters(raw)


def _query_parameters(query_string: str) -> JSONObject:
    # Servers refuse request targets that are not ASCII, so only the percent-escapes
    # carry UTF-8, and parse_qs decodes those.
    try:
        values = parse_qs(query_string, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as error:
        raise MalformedRequest("The query string is not valid UTF-8", 400) from error
    raw: JSONObject = {}
    for name in ("query", "operationName", "variables", "extensions"):
        given = values.get(name)
        if given is None:
            continue
        if len(given) > 1:
            raise MalformedRequest(f"The {name} parameter must be given at most once")
        value = given[0]
        if value == "":
            continue  # the specification: an empty value is no value
        if name in ("variables", "extensions"):
            try:
                raw[name] = orjson.loads(value)
            except orjson.JSONDecodeError as error:
                raise MalformedRequest(f"The {name} parameter is not valid JSON") from error
        else:
            raw[name] = value
    return raw


def _json_media_type(content_type: str | None) -> None:
    """Raise :class:`MalformedRequest` (415) unless ``content_type`` is JSON in UTF-8."""
    if content_type is None:
        raise MalformedRequest(
            f"Missing Content-Type header: send the request as {APPLICATION_JSON}", 415
        )
    media, parameters = parse_media_type(content_type)
    if media != APPLICATION_JSON or parameters.get("charset", "utf-8") != "utf-8":
        raise MalformedRequest(
            f"Unsupported Content-Type {content_type!r}: send the request as "
            f"{APPLICATION_JSON} (UTF-8)",
            415,
        )


def _json_body(request: HTTPRequest) -> JSONObject:
    _json_media_type(request.headers.get("content-type"))
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError as error:
        raise MalformedRequest("The request body is not valid JSON", 400) from error
    if not isinstance(body, dict):
        raise MalformedRequest(
            "The request body must be a JSON object (batched requests are not supported)"
        )
    return body


def _checked_parameters(raw: JSONObject) -> JSONObject:
    query = raw.get("query")
    if query is None:
        raise MalformedRequest("Missing query")
    if not isinstance(query, str):
        raise MalformedRequest("The query must be a string")
    payload: JSONObject = {"query": query}
    for name, kind, described in (
        ("variables", dict, "an object"),
        ("operationName", str, "a string"),
        ("extensions", dict, "an object"),
    ):
        value = raw.get(name)
        if value is None:
            continue  # null is the same as not given
        if not isinstance(value, kind):
            raise MalformedRequest(f"The {name} must be {described}")
        payload[name] = value
    return payload


# -- media types ---------------------------------------------------------------------------


def parse_media_type(value: str) -> tuple[str, dict[str, str]]:
    """``"Application/JSON; charset=UTF-8"`` -> ``("application/json", {"charset": "utf-8"})``."""
    media, *rest = value.split(";")
    parameters: dict[str, str] = {}
    for item in rest:
        name, sep, raw = item.partition("=")
        if sep:
            parameters[name.strip().lower()] = raw.strip().strip('"').lower()
    return media.strip().lower(), parameters


def negotiate_media_type(accept: str | None) -> str | None:
    """The response media type for an ``Accept`` header, or ``None`` (answer 406).

    Each supported type gets the q-value of the most specific range that matches it
    (RFC 9110 §12.5.1); the higher one wins. On a tie, ``application/graphql-response+json``
    wins only if it was named explicitly, so wildcard-only clients, which cannot
    know its status code semantics, get ``application/json``.
    """
    if accept is None or not accept.strip():
        return APPLICATION_JSON
    ranges = [_media_range(part) for part in accept.split(",") if part.strip()]
    graphql_quality, graphql_named = _quality(ranges, GRAPHQL_RESPONSE_JSON)
    json_quality, _ = _quality(ranges, APPLICATION_JSON)
    if graphql_quality <= 0 and json_quality <= 0:
        return None
    if graphql_quality != json_quality:
        return GRAPHQL_RESPONSE_JSON if graphql_quality > json_quality else APPLICATION_JSON
    return GRAPHQL_RESPONSE_JSON if graphql_named else APPLICATION_JSON


@dataclass(frozen=True, slots=True)
class _MediaRange:
    media: str
    quality: float
    charset: str | None
    parameters: dict[str, str] = field(default_factory=dict)


def _media_range(text: str) -> _MediaRange:
    media, parameters = parse_media_type(text)
    try:
        quality = float(parameters.get("q", "1"))
    except ValueError:
        quality = 0.0  # a range we cannot read accepts nothing
    if not 0 <= quality <= 1:
        quality = 0.0
    return _MediaRange(media, quality, parameters.get("charset"), parameters)


def _quality(ranges: list[_MediaRange], media: str) -> tuple[float, bool]:
    """The q-value ``ranges`` give ``media``, and whether a range named it exactly."""
    kind = media.split("/")[0]
    best_specificity = -1
    quality = 0.0
    for candidate in ranges:
        if candidate.charset not in (None, "utf-8"):
            continue  # we only ever write UTF-8
        if candidate.media == media:
            specificity = 2
        elif candidate.media == f"{kind}/*":
            specificity = 1
        elif candidate.media == "*/*":
            specificity = 0
        else:
            continue
        if specificity > best_specificity:
            best_specificity, quality = specificity, candidate.quality
        elif specificity == best_specificity:
            quality = max(quality, candidate.quality)
    return quality, best_specificity == 2


# -- transports ---------------------------------------------------------------------------


class Transport(Enum):
    """What carries the answer to a request."""

    JSON = "json"
    SSE = "sse"
    MULTIPART_SUBSCRIPTION = "multipart-subscription"
    """Apollo's multipart subscription protocol (``subscriptionSpec="1.0"``)."""
    MULTIPART = "multipart"
    """``multipart/mixed``: one part per result (incremental delivery)."""


SSE_MEDIA: Final = EVENT_STREAM
MULTIPART_SUBSCRIPTION_MEDIA: Final = f'{MULTIPART_MIXED};subscriptionSpec="{SUBSCRIPTION_SPEC}"'


@dataclass(frozen=True, slots=True)
class TransportChoice:
    """The outcome of negotiation: the transport, and for JSON its media type."""

    transport: Transport
    media_type: str
    """The JSON media type, or the streaming type's (without parameters)."""

    @property
    def context_class(self) -> type[HTTPContext]:
        if self.transport is Transport.SSE:
            return SSEContext
        if self.transport is Transport.JSON:
            return HTTPContext
        return MultipartContext

    def framing(self, options: ServerOptions) -> Framing:
        if self.transport is Transport.SSE:
            return SSEFraming(options.sse_keep_alive)
        if self.transport is Transport.MULTIPART_SUBSCRIPTION:
            return SubscriptionMultipartFraming(options.multipart_heartbeat)
        return IncrementalMultipartFraming()


def negotiate_transports(
    accept: str | None, options: ServerOptions, kind: OperationKind
) -> TransportChoice | None:
    """The transport for a request's ``Accept`` and the kind of its operation, or
    ``None`` (answer 406).

    Each candidate gets its q-value (RFC 9110); the highest wins. A streaming type
    counts only when named exactly (``*/*`` and ``text/*`` never start a stream), and
    only when its option is on. A query or mutation goes to JSON on a tie (urql names
    ``multipart/mixed`` first for every request), unless it uses ``@defer`` or
    ``@stream``, whose increments a named streaming type carries. A subscription takes
    the best streaming type, the first named on a tie; with none, a JSON request keeps
    its JSON choice, for the operation to answer with 426.
    """
    json_type = negotiate_media_type(accept) if options.http_json else None
    ranges = [_media_range(part) for part in accept.split(",") if part.strip()] if accept else []
    streams = _streaming_candidates(ranges, options)
    if kind is not OperationKind.SUBSCRIPTION and json_type is not None:
        json_quality = (
            max(_quality(ranges, GRAPHQL_RESPONSE_JSON)[0], _quality(ranges, APPLICATION_JSON)[0])
            if ranges
            else 1.0
        )
        streams = [
            c
            for c in streams
            if c[0] > json_quality or (c[0] == json_quality and kind is OperationKind.INCREMENTAL)
        ]
        if not streams:
            return TransportChoice(Transport.JSON, json_type)
    if streams:
        _quality_of, _position, transport, media = max(
            streams, key=lambda candidate: (candidate[0], -candidate[1])
        )
        return TransportChoice(transport, media)
    if json_type is not None and options.websocket:
        return TransportChoice(Transport.JSON, json_type)  # a subscription: 426
    return None


def _streaming_candidates(
    ranges: list[_MediaRange], options: ServerOptions
) -> list[tuple[float, int, Transport, str]]:
    """(q-value, position in ``Accept``, transport, media type) of every streaming type
    named with a q-value above 0, for the transports that are on."""
    found: list[tuple[float, int, Transport, str]] = []
    for position, candidate in enumerate(ranges):
        if candidate.quality <= 0 or candidate.charset not in (None, "utf-8"):
            continue
        if candidate.media == EVENT_STREAM and options.sse:
            found.append((candidate.quality, position, Transport.SSE, EVENT_STREAM))
        elif candidate.media == MULTIPART_MIXED and options.multipart:
            transport = (
                Transport.MULTIPART_SUBSCRIPTION
                if "subscriptionspec" in candidate.parameters
                else Transport.MULTIPART
            )
            found.append((candidate.quality, position, transport, MULTIPART_MIXED))
    return found


def acceptable_media_types(options: ServerOptions, kind: OperationKind) -> list[str]:
    """The media types this server answers an operation of ``kind`` with."""
    served = (
        [GRAPHQL_RESPONSE_JSON, APPLICATION_JSON]
        if kind is not OperationKind.SUBSCRIPTION and options.http_json
        else []
    )
    if options.sse:
        served.append(SSE_MEDIA)
    if options.multipart:
        served.append(
            MULTIPART_SUBSCRIPTION_MEDIA if kind is OperationKind.SUBSCRIPTION else MULTIPART_MIXED
        )
        if kind is OperationKind.SUBSCRIPTION:
            served.append(MULTIPART_MIXED)
    return served


def not_acceptable(options: ServerOptions, kind: OperationKind) -> HTTPResponse:
    """406: what the request accepts is nothing this server answers it with; the body's
    ``errors[0].extensions.acceptable`` lists what it does."""
    served = acceptable_media_types(options, kind)
    return HTTPResponse(
        406,
        [("content-type", f"{APPLICATION_JSON}; charset=utf-8"), ("vary", "Accept")],
        orjson.dumps(
            {
                "errors": [
                    {
                        "message": f"Acceptable media types are {', '.join(served)}",
                        "extensions": {"acceptable": served},
                    }
                ]
            }
        ),
    )


# -- streams ------------------------------------------------------------------------------


async def stream_operation(
    runtime: ServerRuntime,
    registry: ConnectionRegistry | None,
    request: HTTPRequest,
    context: HTTPContext,
    payload: JSONObject,
    choice: TransportChoice,
) -> HTTPResponse | HTTPStreamResponse:
    """Run one operation whose results go into a stream: the stream once the operation
    is admitted, or an ordinary response when it ends before (docs/streams.md)."""
    options = runtime.options
    busy = over_process_limits(registry, options)
    if busy is not None:
        return with_response_draft(busy, context.response, options.debug)
    stream = HTTPStreamResponse(
        choice.framing(options),
        registry,
        slow_consumer_timeout=options.slow_consumer_timeout,
        cleanup_timeout=options.cleanup_timeout,
    )
    sink = StreamedOperation(stream, debug=options.debug)
    if choice.transport is Transport.SSE:
        payload = with_last_event_id(payload, request.headers.get("last-event-id"))
    operation = Operation(
        runtime,
        context,
        None,
        payload,
        sink,
        member=sink,
        admit=sink.admission(_stream_admission(request.method)),
        incremental_delivery=True,
    )
    task = stream.start(sink, operation.run())
    if await sink.wait_until_open(task):
        try:
            stream.status, stream.headers = (
                context.response.merged_into(stream.status, stream.headers)
                if not context.response.is_empty()
                else (stream.status, stream.headers)
            )
        except ValueError as error:
            await stream.aclose()
            return failure_response(error, "ctx.response", options.debug)
        return stream
    await stream.aclose()
    return _early_response(sink, choice, options, context.response)


def with_last_event_id(payload: JSONObject, last_event_id: str | None) -> JSONObject:
    """An SSE request's payload, resuming after its ``Last-Event-ID`` (an ``EventSource``
    that reconnects sends the ``id`` of the last event it saw: a cursor when results carry
    one). The header wins over the body's ``extensions.cursor``: it is the newer one."""
    if not last_event_id:
        return payload
    if not last_event_id.isascii():
        # A server may hand over bytes that are not UTF-8 as lone surrogates, which no
        # JSON can carry, and the gap notice repeats the cursor: make it text first (it
        # is no cursor of any broker, and gets the answer an invalid cursor gets).
        last_event_id = last_event_id.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    extensions = payload.get("extensions")
    merged = dict(extensions) if isinstance(extensions, dict) else {}
    merged[CURSOR_EXTENSION] = last_event_id
    return {**payload, "extensions": merged}


def over_process_limits(
    registry: ConnectionRegistry | None, options: ServerOptions
) -> HTTPResponse | None:
    """503 with ``Retry-After`` when the server runs ``max_operations`` operations, or
    holds ``max_connections`` WebSockets and streams together."""
    if registry is None:
        return None
    message = None
    if options.max_operations is not None and registry.running >= options.max_operations:
        registry.refused_operations += 1
        message = (
            "Operation limit reached: this server runs at most "
            f"{options.max_operations} operations at once"
        )
    elif (
        options.max_connections is not None
        and len(registry.connections) + len(registry.streams) >= options.max_connections
    ):
        registry.refused_connections += 1
        message = "Too many connections"
    if message is None:
        return None
    return error_response(503, message, [("retry-after", str(RETRY_AFTER_SECONDS))])


_ANSWERED_STAGES: Final = frozenset({ErrorStage.SYNTAX, ErrorStage.OPERATION})
"""Errors that a streamed operation answers with 400 before any stream, in either mode."""


def _early_response(
    sink: StreamedOperation,
    choice: TransportChoice,
    options: ServerOptions,
    draft: HTTPResponseDraft,
) -> HTTPResponse:
    """The answer to a streamed operation that ended before its stream started."""
    if sink.early_failure is not None:
        error = sink.early_failure
        if isinstance(error, _Refused):
            refusal = error_response(error.status, str(error), error.headers)
            return with_response_draft(refusal, draft, options.debug)
        return failure_response(error, "HTTP operation", options.debug)
    errors = sink.early_errors or [{"message": "The operation produced no result"}]
    if choice.transport is Transport.SSE and sink.early_stage not in _ANSWERED_STAGES:
        # graphql-sse's distinct mode: request errors are a `next` event, then `complete`
        # (a document that does not parse, or names no operation, it answers with 400).
        framing = choice.framing(options)
        body = framing.opening() + framing.errors(errors, None)
        response = HTTPResponse(
            200,
            [
                ("content-type", framing.content_type),
                ("cache-control", "no-cache"),
                ("vary", "Accept"),
            ],
            body,
        )
    else:
        status = 400 if sink.early_errors is not None else 500
        response = HTTPResponse(
            status,
            [("content-type", f"{APPLICATION_JSON}; charset=utf-8"), ("vary", "Accept")],
            orjson.dumps({"errors": errors}),
        )
    return with_response_draft(response, draft, options.debug)


def _stream_admission(method: str) -> Admission:
    """What a stream refuses to run: mutations sent with ``GET``."""

    def admit(kind: OperationType) -> None:
        if kind is OperationType.MUTATION and method == "GET":
            raise _Refused(405, "Mutations cannot be sent with GET: use POST", [("allow", "POST")])

    return admit


# -- running the operation ------------------------------------------------------------------


class _Refused(Exception):
    """An operation this transport does not run (raised instead of executing it)."""

    def __init__(self, status: int, message: str, headers: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


def _admission(method: str, options: ServerOptions) -> Admission:
    """What a JSON response refuses to carry: subscriptions, and mutations sent with
    ``GET``.

    Checked just before execution, so that it also covers documents that
    ``on_subscribe`` supplies (persisted queries and the like).
    """

    def admit(kind: OperationType) -> None:
        if kind is OperationType.SUBSCRIPTION:
            message = "Subscriptions are not served as one JSON response: "
            if not options.websocket:  # nothing to upgrade to: only what Accept can ask for
                raise _Refused(406, message + _subscription_ways(options), [])
            raise _Refused(
                426,
                message + _subscription_ways(options),
                [("upgrade", "websocket"), ("connection", "Upgrade")],
            )
        if kind is OperationType.MUTATION and method == "GET":
            raise _Refused(405, "Mutations cannot be sent with GET: use POST", [("allow", "POST")])

    return admit


def _subscription_ways(options: ServerOptions) -> str:
    """How a client subscribes on this endpoint, for the 426 answer."""
    ways: list[str] = []
    if options.websocket:
        ways.append("connect a WebSocket to this URL (graphql-transport-ws or graphql-ws)")
    if options.sse:
        ways.append(f"ask for {SSE_MEDIA} (Server-Sent Events)")
    if options.multipart:
        ways.append(f"ask for {MULTIPART_SUBSCRIPTION_MEDIA} (multipart HTTP)")
    return ", or ".join(ways) if ways else "this server serves no subscriptions"


class _HTTPResult:
    """The :class:`~gqlwire.operation.ResultSink` of one HTTP request: keeps the first
    outcome, which ends the operation (a stream yields one result over HTTP), and makes
    the response of it."""

    __slots__ = ("failure", "request_errors", "result", "stage")

    def __init__(self) -> None:
        self.result: JSONObject | None = None
        self.request_errors: list[JSONObject] | None = None
        self.stage: ErrorStage | None = None
        self.failure: Exception | None = None

    def is_active(self) -> bool:
        return self.result is None and self.request_errors is None and self.failure is None

    async def next(self, payload: JSONObject) -> None:
        if self.is_active():
            self.result = payload

    async def errors(self, errors: list[JSONObject], stage: ErrorStage) -> None:
        if self.is_active():
            self.request_errors, self.stage = errors, stage

    async def complete(self) -> None:
        pass

    async def failed(self, error: Exception) -> None:
        if self.is_active():
            self.failure = error

    @property
    def raised(self) -> bool:
        """Whether the operation ended in an exception (not in a refusal)."""
        return self.failure is not None and not isinstance(self.failure, _Refused)

    def response(self, media_type: str, debug: bool) -> HTTPResponse:
        if self.failure is not None:
            return self._failure_response(self.failure, media_type, debug)
        if self.request_errors is not None:
            status = 400 if self.stage is ErrorStage.SYNTAX else 422
            if self.stage is ErrorStage.STREAM:
                status = 500  # the source failed before its first result
            return _result_response({"errors": self.request_errors}, media_type, status)
        if self.result is not None:
            status = 200 if "data" in self.result else 422  # e.g. variables did not coerce
            return _result_response(self.result, media_type, status)
        # A cancelled run re-raises and never gets here: this operation streamed no
        # result at all (a custom execute's empty stream).
        return error_response(500, "The operation produced no result")

    @staticmethod
    def _failure_response(error: Exception, media_type: str, debug: bool) -> HTTPResponse:
        if isinstance(error, _Refused):
            return _result_response(
                {"errors": [{"message": str(error)}]},
                media_type,
                error.status,
                error.headers,
                refusal=True,
            )
        return failure_response(error, "HTTP operation", debug)


# -- responses ------------------------------------------------------------------------------


def failure_response(error: Exception, where: str, debug: bool) -> HTTPResponse:
    """500 for an exception from application code: logged with its traceback, its
    message shown only with ``debug`` (a :class:`ServerError` describes the setup and is
    always shown)."""
    if isinstance(error, ServerError):
        message = str(error)
    else:
        logger.error("%s raised %s: %s", where, type(error).__name__, error, exc_info=error)
        message = str(error) if debug else INTERNAL_SERVER_ERROR_REASON
    return error_response(500, message)


def with_response_draft(
    response: HTTPResponse, draft: HTTPResponseDraft, debug: bool
) -> HTTPResponse:
    """``response`` with what the application set on ``ctx.response``."""
    if draft.is_empty():
        return response
    try:
        status, headers = draft.merged_into(response.status, response.headers)
    except ValueError as error:
        return failure_response(error, "ctx.response", debug)
    return HTTPResponse(status, headers, response.body)


def _result_response(
    result: JSONObject,
    media_type: str,
    status: int,
    headers: list[tuple[str, str]] | None = None,
    *,
    refusal: bool = False,
) -> HTTPResponse:
    """A GraphQL result, in the negotiated media type, with the status that
    ``application/graphql-response+json`` calls for.

    With ``application/json``, request errors answer 200: legacy clients trust only a
    200 body to be a GraphQL response. A ``refusal`` (a mutation over GET, a
    subscription) keeps its status whatever the media type: the method or the
    transport is wrong, not the request's GraphQL.
    """
    if media_type == APPLICATION_JSON and 400 <= status < 500 and not refusal:
        status = 200
    try:
        body = orjson.dumps(result)
    except TypeError as error:
        logger.error("A result could not be encoded as JSON: %s", error)
        return error_response(500, INTERNAL_SERVER_ERROR_REASON)
    return HTTPResponse(
        status,
        [("content-type", f"{media_type}; charset=utf-8"), ("vary", "Accept"), *(headers or ())],
        body,
    )


def error_response(
    status: int, message: str, headers: list[tuple[str, str]] | None = None
) -> HTTPResponse:
    """A response that is not a GraphQL result (``{"errors": [{"message": ...}]}``):
    always ``application/json``. Adapters use it for what they refuse themselves (413)."""
    return HTTPResponse(
        status,
        [("content-type", f"{APPLICATION_JSON}; charset=utf-8"), *(headers or ())],
        orjson.dumps({"errors": [{"message": message}]}),
    )


__all__ = [
    "APPLICATION_JSON",
    "GRAPHQL_RESPONSE_JSON",
    "MULTIPART_SUBSCRIPTION_MEDIA",
    "PREFLIGHT_HEADERS",
    "SIMPLE_CONTENT_TYPES",
    "SSE_MEDIA",
    "HTTPRequest",
    "HTTPResponse",
    "HTTPRoute",
    "MalformedRequest",
    "OperationKind",
    "ScreenedRequest",
    "Transport",
    "TransportChoice",
    "acceptable_media_types",
    "cross_site_refusal",
    "error_response",
    "handle_http_request",
    "negotiate_media_type",
    "negotiate_transports",
    "not_acceptable",
    "over_process_limits",
    "parse_media_type",
    "read_request_parameters",
    "screen_request",
    "stream_operation",
    "with_response_draft",
]
