"""``gqlwire query`` and ``gqlwire subscribe``: the client on the command line.

``--transport`` picks the client: ``ws`` (the default) is :class:`Client` over WebSocket;
``http`` runs a query or mutation with :class:`HTTPClient` (GraphQL over HTTP); ``sse``
runs the operation over Server-Sent Events (graphql-sse's distinct connections mode).

Each result is printed as one line of JSON on stdout, flushed at once, so the output
can be piped into line-oriented tools. Exit status: 0 when the operation completed
(a result that carries GraphQL ``errors`` is still a result), 1 with one line on stderr
when it failed (an ``error`` message, a closed or refused connection, bad arguments),
130 on Ctrl-C (SIGINT) and 143 on SIGTERM, without a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..protocol.codes import GRAPHQL_TRANSPORT_WS, GRAPHQL_WS
from .client import Client
from .errors import ClientError
from .http_client import HTTPClient
from .options import check_http_url, check_url

if TYPE_CHECKING:
    from ..cli import Commands

__all__ = ["add_client_commands"]

_EXIT_ERROR = 1
_EXIT_SIGNAL_BASE = 128  # a shell reports "killed by signal N" as 128 + N
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

WS, HTTP, SSE = "ws", "http", "sse"
TRANSPORTS = (WS, HTTP, SSE)


class _UsageError(Exception):
    """A bad argument, reported on one line with exit status 1."""


def add_client_commands(commands: Commands) -> None:
    """Add ``query`` and ``subscribe`` to the ``gqlwire`` command line."""
    for name, streaming, summary, description in (
        (
            "query",
            False,
            "run a query or mutation and print its result",
            "Run a GraphQL query or mutation over WebSocket (or HTTP, or SSE: see "
            "--transport) and print its result as one line of JSON.",
        ),
        (
            "subscribe",
            True,
            "run a subscription and print each result as it arrives",
            "Run a GraphQL subscription over WebSocket (or SSE: see --transport) and print "
            "each result as one line of JSON as it arrives, until the server completes it.",
        ),
    ):
        parser = commands.add_parser(
            name,
            help=summary,
            description=description
            + " Exit status: 0 when the operation completed, 1 when it failed (one line "
            "on stderr), 130 on Ctrl-C.",
        )
        parser.add_argument(
            "url",
            metavar="URL",
            help="the endpoint: ws:// or wss:// (--transport ws), http:// or https:// (http, sse)",
        )
        parser.add_argument(
            "query", metavar="QUERY", help="the GraphQL document; - reads it from standard input"
        )
        parser.add_argument(
            "--variables", metavar="JSON", help="the operation's variables, a JSON object"
        )
        parser.add_argument(
            "--operation-name", metavar="NAME", help="the operation to run in QUERY"
        )
        parser.add_argument(
            "--transport",
            choices=TRANSPORTS,
            default=WS,
            help="ws: WebSocket; http: GraphQL over HTTP (queries and mutations); sse: "
            "Server-Sent Events (default: %(default)s)",
        )
        parser.add_argument(
            "--protocol",
            choices=(GRAPHQL_TRANSPORT_WS, GRAPHQL_WS),
            help=f"the WebSocket subprotocol (default: {GRAPHQL_TRANSPORT_WS})",
        )
        parser.add_argument(
            "--header",
            action="append",
            default=[],
            metavar="NAME:VALUE",
            help="an HTTP header of the WebSocket handshake, or of every HTTP request (repeatable)",
        )
        parser.add_argument(
            "--connection-params",
            metavar="JSON",
            help="the connection_init payload, a JSON object (--transport ws)",
        )
        parser.add_argument(
            "--retry-attempts",
            type=_count,
            default=0,
            metavar="N",
            help="reconnect up to N times after an abnormal close (sse: a stream that "
            "drops), resubscribing after the last result's cursor when the server sends "
            "cursors, so no event is printed twice or missed (default: %(default)s: "
            "report the failure at once)",
        )
        parser.add_argument(
            "--timeout",
            type=_seconds,
            metavar="SECONDS",
            help="--transport http and sse: seconds to wait for a response (sse: for the "
            "stream to open); 0: no limit (default: 30)",
        )
        parser.set_defaults(handler=_handler(streaming))


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


@dataclass(frozen=True)
class _Request:
    transport: str
    url: str
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    protocol: str
    headers: dict[str, str]
    connection_params: dict[str, Any] | None
    retry_attempts: int
    timeout: float | None
    streaming: bool


def _handler(streaming: bool) -> Callable[[argparse.Namespace], int]:
    def handle(args: argparse.Namespace) -> int:
        try:
            request = _request(args, streaming)
        except _UsageError as error:
            return _fail(str(error))
        return _run(request)

    return handle


def _json_object(text: str | None, option: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise _UsageError(f"{option} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise _UsageError(f"{option} must be a JSON object, got {type(value).__name__}")
    return value


def _headers(pairs: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for pair in pairs:
        name, separator, value = pair.partition(":")
        if not separator or not name.strip():
            raise _UsageError(f"--header expects NAME:VALUE, got {pair!r}")
        headers[name.strip()] = value.strip()
    return headers


def _request(args: argparse.Namespace, streaming: bool) -> _Request:
    transport: str = args.transport
    _check_transport_options(args, transport, streaming)
    try:
        if transport == WS:
            check_url(args.url)
        else:
            check_http_url(args.url)
    except ValueError as error:
        hint = ""
        if transport == WS and args.url.startswith(("http://", "https://")):
            hint = " (over HTTP: --transport http or sse)"
        raise _UsageError(f"{error}{hint}") from None
    return _Request(
        transport=transport,
        url=args.url,
        query=_query(args.query),
        variables=_json_object(args.variables, "--variables"),
        operation_name=args.operation_name,
        protocol=args.protocol or GRAPHQL_TRANSPORT_WS,
        headers=_headers(args.header),
        connection_params=_json_object(args.connection_params, "--connection-params"),
        retry_attempts=args.retry_attempts,
        timeout=args.timeout,
        streaming=streaming,
    )


def _check_transport_options(args: argparse.Namespace, transport: str, streaming: bool) -> None:
    """Refuse options the chosen transport would silently ignore."""
    if streaming and transport == HTTP:
        raise _UsageError("GraphQL over HTTP carries no subscription: use --transport sse")
    if transport != WS:
        for option, value in (
            ("--protocol", args.protocol),
            ("--connection-params", args.connection_params),
        ):
            if value is not None:
                raise _UsageError(f"{option} applies to --transport ws only")
    elif args.timeout is not None:
        raise _UsageError("--timeout applies to --transport http and sse only")
    if transport == HTTP and args.retry_attempts:
        raise _UsageError(
            "--retry-attempts applies to --transport ws and sse (a query over "
            "HTTP is never sent twice)"
        )


def _query(text: str) -> str:
    """QUERY as given, or the whole of standard input for ``-``."""
    if text != "-":
        return text
    query = sys.stdin.read()
    if not query.strip():
        raise _UsageError("QUERY is -, but standard input holds no GraphQL document")
    return query


def _fail(message: str) -> int:
    text = " ".join(message.split())  # exactly one line
    print(f"gqlwire: error: {text}", file=sys.stderr, flush=True)
    return _EXIT_ERROR


def _run(request: _Request) -> int:
    try:
        return asyncio.run(_main(request))
    except KeyboardInterrupt:  # a SIGINT before the loop's own handler was installed
        return _EXIT_SIGNAL_BASE + signal.SIGINT


async def _main(request: _Request) -> int:
    task = asyncio.current_task()
    assert task is not None
    received: list[int] = []
    loop = asyncio.get_running_loop()

    def stop(signum: int) -> None:
        received.append(signum)
        task.cancel()

    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, stop, signum)
    try:
        return await _operate(request)
    except asyncio.CancelledError:
        if not received:
            raise
        return _EXIT_SIGNAL_BASE + received[0]
    finally:
        for signum in _STOP_SIGNALS:
            loop.remove_signal_handler(signum)


async def _operate(request: _Request) -> int:
    try:
        if request.transport == WS:
            await _over_websocket(request)
        else:
            await _over_http(request)
    except ClientError as error:
        return _fail(str(error))
    except BrokenPipeError:
        # The reader of stdout went away (`| head -1`): stop quietly, and keep the
        # interpreter from reporting the failed flush at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return 0


async def _over_websocket(request: _Request) -> None:
    async with Client(
        request.url,
        protocol=request.protocol,
        headers=request.headers,
        connection_params=request.connection_params,
        retry_attempts=request.retry_attempts,
    ) as client:
        if request.streaming:
            async with contextlib.aclosing(
                client.subscribe(request.query, request.variables, request.operation_name)
            ) as results:
                async for result in results:
                    _print(result)
        else:
            _print(await client.execute(request.query, request.variables, request.operation_name))


async def _over_http(request: _Request) -> None:
    options: dict[str, Any] = {}
    if request.timeout is not None:
        options["timeout"] = request.timeout
    async with HTTPClient(
        request.url, headers=request.headers, retry_attempts=request.retry_attempts, **options
    ) as client:
        if request.transport == HTTP:
            _print(await client.execute(request.query, request.variables, request.operation_name))
            return
        async with contextlib.aclosing(
            client.subscribe(request.query, request.variables, request.operation_name)
        ) as results:
            async for result in results:
                _print(result)
                if not request.streaming:
                    return  # `query` prints the first result, as over WebSocket
        if not request.streaming:
            raise ClientError("the event stream completed without a result")


def _print(result: dict[str, Any]) -> None:
    print(json.dumps(result, ensure_ascii=False), flush=True)
