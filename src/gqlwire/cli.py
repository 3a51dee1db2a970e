"""The ``gqlwire`` command line: ``gqlwire serve MODULE:ATTR`` here, and the client's
``query`` and ``subscribe`` (:mod:`gqlwire.client.cli`).

How ``serve`` hands an application to servers that import it themselves is described in
docs/design.md ("The command line").
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias

from . import runners, workers
from .asgi_types import ASGIApplication, Receive, Scope, Send
from .protocol import CloseCode
from .runners import RunnerError

if TYPE_CHECKING:
    from aiohttp import web

    from .server import GraphQLServer

__all__ = ["CLIError", "Commands", "main", "served_app"]

SERVED_APP_TARGET = "gqlwire.cli:served_app"
_ENVIRONMENT_KEY = "GQLWIRE_SERVE"
_DEFAULT_PATH = "/graphql"
_DEFAULT_SERVER = "aiohttp"

# Command-line option -> GraphQLServer option.
_SERVER_OPTIONS = {
    "init_timeout": "connection_init_wait_timeout",
    "keepalive": "keep_alive",
    "debug": "debug",
}

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""The sub-parsers of ``gqlwire``, to which each command adds its parser."""

Handler = Callable[[argparse.Namespace], int]
"""A command's handler: the parsed arguments in, the exit status out."""


class CLIError(Exception):
    """A problem to report on one line, with exit status 2 (raised by a handler)."""


# --------------------------------------------------------------------------- what to serve


@dataclass(frozen=True)
class ServeSpec:
    """What `serve` serves; travels to worker processes as JSON in the environment."""

    target: str
    path: str = _DEFAULT_PATH
    options: dict[str, Any] = field(default_factory=dict)  # GraphQLServer options given

    def to_json(self) -> str:
        return json.dumps({"target": self.target, "path": self.path, "options": self.options})

    @classmethod
    def from_json(cls, text: str) -> ServeSpec:
        data = json.loads(text)
        return cls(str(data["target"]), str(data["path"]), dict(data["options"]))


@dataclass(frozen=True)
class BuiltApp:
    """What `serve` serves: a GraphQLServer at `path`, or the user's own application
    (an ASGI callable or an aiohttp Application) as it is."""

    target: str
    path: str
    server: GraphQLServer | None = None
    own_app: object = None  # when `server` is None

    def is_aiohttp_app(self) -> bool:
        return self.server is None and runners.is_aiohttp_application(self.own_app)

    def asgi(self) -> ASGIApplication:
        """The ASGI app to give an ASGI server."""
        if self.server is not None:
            return MountedApp(self.server.asgi(), self.path, self.server.extra_paths)
        if self.is_aiohttp_app():
            raise CLIError(
                f"{self.target!r} is an aiohttp Application, which an ASGI server cannot "
                "serve: use --server aiohttp"
            )
        return self.own_app  # type: ignore[return-value]

    def aiohttp_app(self) -> web.Application:
        """The Application to give aiohttp."""
        if self.server is not None:
            return self.server.aiohttp_app(self.path)
        if not self.is_aiohttp_app():
            asgi_servers = ", ".join(name for name in runners.SERVER_NAMES if name != "aiohttp")
            raise CLIError(
                f"{self.target!r} is an ASGI application, which aiohttp cannot serve: "
                f"choose an ASGI server with --server ({asgi_servers})"
            )
        return self.own_app  # type: ignore[return-value]

    def check_server(self, server_name: str) -> None:
        """Raise `CLIError` if `server_name` cannot serve the user's own application (a
        GraphQLServer runs on every server)."""
        if self.server is not None:
            return
        if server_name == "aiohttp":
            self.aiohttp_app()
        else:
            self.asgi()


def build_app(spec: ServeSpec) -> BuiltApp:
    """Import `spec.target` and decide how to serve it.

    A `GraphQLServer` gets the given options through `replace()`; a schema gets a new
    `GraphQLServer` with them; both are served at `spec.path` only. An aiohttp
    Application or an ASGI application (as `_is_asgi_app` recognizes one) is served as
    it is. Anything else, a misnamed attribute included, is a `CLIError` saying what
    could be served.
    """
    from .server import GraphQLServer

    try:
        found = runners.import_target(spec.target)
    except runners.MissingAttributeError as missing:
        raise CLIError(f"{missing}; {_servable_attributes(missing.module)}") from None
    kind = _servable_kind(found)
    try:
        if isinstance(found, GraphQLServer):
            server = found.replace(**spec.options) if spec.options else found
        elif kind in (_SCHEMA, _SCHEMA_FUNCTION):
            server = GraphQLServer(found, **spec.options)
        elif kind in (_ASGI_APP, _AIOHTTP_APP):
            return BuiltApp(spec.target, spec.path, own_app=found)
        else:
            raise CLIError(f"{spec.target!r} is {_not_servable(found)}")
    except (TypeError, ValueError) as exc:  # options the server refuses
        raise CLIError(f"{spec.target!r}: {exc}") from exc
    return BuiltApp(spec.target, spec.path, server=server)


# What `serve` can serve, as the words a message uses for it.
_SERVER = "a GraphQLServer"
_SCHEMA = "a GraphQL schema"
_SCHEMA_FUNCTION = "a schema function"
_ASGI_APP = "an ASGI application"
_AIOHTTP_APP = "an aiohttp Application"
_WHAT_CAN_BE_SERVED = (
    "a GraphQL schema, a GraphQLServer, an ASGI application or an aiohttp Application"
)


def _servable_kind(found: object) -> str | None:
    """What `found` would be served as, or None if `serve` cannot serve it."""
    from .execution import unwrap_schema
    from .server import GraphQLServer

    if isinstance(found, GraphQLServer):
        return _SERVER
    if isinstance(found, type):
        return None  # a class, GraphQLServer or Starlette for one, is not an instance
    if unwrap_schema(found) is not None:
        return _SCHEMA
    if runners.is_aiohttp_application(found):
        return _AIOHTTP_APP
    if _is_asgi_app(found):
        return _ASGI_APP
    if _is_schema_function(found):
        return _SCHEMA_FUNCTION
    return None


def _servable_attributes(module: ModuleType) -> str:
    """The end of a message about a misnamed attribute: what the module has that
    `serve` could serve (functions only where the module defines them)."""
    found: list[str] = []
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        kind = _servable_kind(value)
        if kind == _SCHEMA_FUNCTION and getattr(value, "__module__", None) != module.__name__:
            continue
        if kind is not None:
            found.append(f"{name} ({kind})")
    if not found:
        return f"it has nothing that can be served ({_WHAT_CAN_BE_SERVED})"
    return "it has " + ", ".join(found)


def _not_servable(found: object) -> str:
    """Why `found` is not served, for the message ``'module:attr' is ...``."""
    if _is_three_argument_function(found):
        if inspect.isfunction(found) or inspect.ismethod(found):
            what = f"{_describe(found)} takes three parameters but is not a coroutine function"
        else:
            what = f"{_describe(found)}'s `__call__` takes three parameters but is not async"
        return (
            f"not an ASGI application: {what} (an ASGI application is `async def "
            "app(scope, receive, send)`, or an object whose `__call__` is one)"
        )
    return f"not {_WHAT_CAN_BE_SERVED} (it is {_describe(found)})"


def _positional_parameters(found: object) -> int | None:
    """How many positional arguments `found` takes when called; None if it is not a
    plain function or callable instance (classes, builtins without a signature)."""
    if isinstance(found, type) or not callable(found):
        return None
    try:
        parameters = inspect.signature(found).parameters.values()
    except (TypeError, ValueError):
        return None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in parameters if p.kind in positional)


def _is_asgi_app(found: object) -> bool:
    """A credible ASGI 3 application: a coroutine function ``app(scope, receive, send)``,
    or an object whose ``__call__`` is one (Starlette, FastAPI, Django, gqlwire's own).
    A plain function of three parameters is not: called by a server, it would return
    without awaiting anything, and every request would fail in the server's log."""
    if isinstance(found, type) or _positional_parameters(found) != 3:
        return False
    return inspect.iscoroutinefunction(found) or inspect.iscoroutinefunction(type(found).__call__)


def _is_three_argument_function(found: object) -> bool:
    return _positional_parameters(found) == 3 and not _is_asgi_app(found)


def _is_schema_function(found: object) -> bool:
    """A per-operation schema function: ``fn(ctx, id, payload, args) -> schema``."""
    return _positional_parameters(found) == 4


def _describe(found: object) -> str:
    if isinstance(found, type):
        return f"the class {found.__name__}"
    if inspect.isfunction(found) or inspect.ismethod(found):
        return f"the function {found.__qualname__}"
    name = type(found).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


class MountedApp:
    """Serves `app` at exactly `path`: other HTTP paths get 404, WebSocket handshakes on
    other paths are refused (HTTP 403); lifespan events go to `app`. `extra_paths`
    (the metrics endpoint) are served too, over HTTP."""

    def __init__(self, app: ASGIApplication, path: str, extra_paths: Sequence[str] = ()) -> None:
        self.app = app
        self.path = path
        self.extra_paths = tuple(extra_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if (
            kind in ("http", "websocket")
            and scope.get("path") != self.path
            and not (kind == "http" and scope.get("path") in self.extra_paths)
        ):
            if kind == "websocket":
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": int(CloseCode.NORMAL_CLOSURE)})
            else:
                body = b"Not Found"
                headers = [(b"content-type", b"text/plain"), (b"content-length", b"9")]
                await send({"type": "http.response.start", "status": 404, "headers": headers})
                await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


class _ServedApp:
    """The app behind ``gqlwire.cli:served_app``, the one import string `serve` gives
    every server.

    In the process of the command line it serves what `serve` built (`install`); in a
    worker process that imported it (granian) it builds that from the description
    `serve` left in the environment, on first use. For aiohttp, which runs in this
    process, `aiohttp_app()` is the Application to serve; `close_all()` lets every
    runner close the served GraphQLServer's WebSockets with 1001 "Going away" on stop.
    """

    def __init__(self) -> None:
        self._built: BuiltApp | None = None
        self._asgi: ASGIApplication | None = None

    def install(self, built: BuiltApp) -> None:
        self._built = built
        self._asgi = None

    def _what(self) -> BuiltApp:
        if self._built is None:
            description = os.environ.get(_ENVIRONMENT_KEY)
            if description is None:
                raise RuntimeError(f"{SERVED_APP_TARGET} is served only by `gqlwire serve`")
            self._built = build_app(ServeSpec.from_json(description))
        return self._built

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._asgi is None:
            self._asgi = self._what().asgi()
        await self._asgi(scope, receive, send)

    def aiohttp_app(self) -> web.Application:
        try:
            return self._what().aiohttp_app()
        except CLIError as error:
            raise RunnerError(str(error)) from None

    async def close_all(self) -> None:
        """Close the served GraphQLServer's WebSockets with 1001 "Going away" and end
        its HTTP streams; of the user's own application, call its ``close_all()`` if it
        has one (``GraphQLServer.asgi()``'s does). uvicorn waits for open responses
        before the lifespan's shutdown: an event stream would otherwise hold the stop."""
        built = self._built
        if built is None:
            return
        if built.server is not None:
            await built.server.close_all()
            return
        close_all = getattr(built.own_app, "close_all", None)
        if callable(close_all):
            await close_all()


served_app = _ServedApp()


# --------------------------------------------------------------------------- command line


def _seconds_or_none(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or 'none', got {text!r}") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return seconds


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number (0-65535), got {text!r}")
    return port


def _worker_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of workers, got {text!r}") from None
    if not 1 <= count <= workers.MAX_WORKERS:
        raise argparse.ArgumentTypeError(
            f"expected between 1 and {workers.MAX_WORKERS} workers, got {count}"
        )
    return count


def _path(text: str) -> str:
    if not text.startswith("/"):
        raise argparse.ArgumentTypeError(f"a path starts with '/', got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    # Imported here, not with this module: the worker processes of `gqlwire serve`
    # import this module for served_app, and a server loads no client (nor aiohttp).
    from .client.cli import add_client_commands

    parser = argparse.ArgumentParser(
        prog="gqlwire", description="GraphQL over WebSocket for Python."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_serve_command(commands)
    add_client_commands(commands)
    return parser


def add_serve_command(commands: Commands) -> None:
    serve_parser = commands.add_parser(
        "serve",
        help="serve a schema, a GraphQLServer, an aiohttp Application or an ASGI app",
        description=(
            "Serve MODULE:ATTR over WebSocket (graphql-transport-ws and graphql-ws) and "
            "HTTP. MODULE is imported with the current directory on the import path. "
            "ATTR may be a GraphQL schema (graphql-core, Strawberry, Ariadne, Graphene) or "
            "a GraphQLServer (the options given here replace its own), served on any "
            "server; an aiohttp Application (--server aiohttp); or any other ASGI "
            "application (an ASGI --server). Applications are served as they are: "
            "--path, --init-timeout, --keepalive and --debug do not apply to them."
        ),
    )
    serve_parser.set_defaults(handler=serve)
    serve_parser.add_argument("target", metavar="MODULE:ATTR", help="what to serve")
    serve_parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    serve_parser.add_argument(
        "--port", type=_port, default=8000, help="port to bind (default: %(default)s)"
    )
    serve_parser.add_argument(
        "--server",
        choices=runners.SERVER_NAMES,
        default=_DEFAULT_SERVER,
        help="the server to run on (default: %(default)s; the others need their extra, "
        'e.g. pip install "gqlwire[uvicorn]")',
    )
    serve_parser.add_argument(
        "--path",
        type=_path,
        default=_DEFAULT_PATH,
        help="the endpoint's path; other paths get 404 (default: %(default)s)",
    )
    serve_parser.add_argument(
        "--init-timeout",
        type=_seconds_or_none,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help="seconds to wait for connection_init, or 'none' (default: the server's, 3)",
    )
    serve_parser.add_argument(
        "--keepalive",
        type=_seconds_or_none,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help="seconds between keep-alive pings, or 'none' (default: the server's, 12)",
    )
    serve_parser.add_argument(
        "--workers",
        type=_worker_count,
        default=1,
        metavar="N",
        help="worker processes serving the port, each with its own event loop "
        f"(1-{workers.MAX_WORKERS}; default: %(default)s). Stats are per process; share "
        "events between workers with a broker such as RedisBroker",
    )
    # Internal: how the supervisor of --workers hands a worker its socket and channel.
    serve_parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    serve_parser.add_argument(
        "--log-level",
        choices=runners.LOG_LEVELS,
        default="info",
        help="log level of the server and of gqlwire (default: %(default)s)",
    )
    serve_parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="close with the message of exceptions raised by your code instead of "
        "'Internal server error'",
    )


def _listening_line(
    built: BuiltApp, server_name: str, host: str, port: int, worker_count: int = 1
) -> str:
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    how = server_name if worker_count == 1 else f"{server_name}, {worker_count} workers"
    if built.server is None:
        return f"gqlwire: serving {built.target} on http://{authority} ({how})"
    protocols = " and ".join(built.server.options.protocols)
    return f"gqlwire: serving {protocols} on ws://{authority}{built.path} ({how})"


def _worker_command(args: argparse.Namespace, port: int) -> workers.WorkerCommand:
    """The command line of one worker of `serve --workers`: this one's options (the
    port the supervisor bound, if it was 0), with the hidden ``--worker`` option."""
    given = vars(args)
    argv = [sys.executable, "-m", "gqlwire", "serve", args.target, "--host", args.host]
    argv += ["--port", str(port), "--server", args.server, "--path", args.path]
    argv += ["--log-level", args.log_level]
    for key in ("init_timeout", "keepalive"):
        if key in given:
            value = given[key]
            argv += ["--" + key.replace("_", "-"), "none" if value is None else repr(value)]
    if given.get("debug"):
        argv.append("--debug")

    def command(listen_fd: int, channel_fd: int, index: int) -> list[str]:
        return [*argv, "--worker", f"{listen_fd},{channel_fd},{index}"]

    return command


def serve(args: argparse.Namespace) -> int:
    # First, so that a signal while the application is imported stops us quietly too.
    runners.install_stop_signals()
    # A worker of `--workers` starts watching its supervisor before the import as well.
    worker = workers.WorkerHandle.adopt(args.worker) if args.worker is not None else None
    given = vars(args)
    spec = ServeSpec(
        target=args.target,
        path=args.path,
        options={name: given[key] for key, name in _SERVER_OPTIONS.items() if key in given},
    )
    runners.check_server(args.server)
    built = build_app(spec)
    built.check_server(args.server)
    if args.workers > 1 and built.server is not None and built.server.options.sse_single_connection:
        raise CLIError(
            "--workers: the SSE single connection mode keeps each client's stream in one "
            "process, and workers sharing a port cannot send that client's requests to it; "
            "run one process per port behind a load balancer with sticky sessions instead"
        )
    if args.workers > 1 and not runners.has_own_workers(args.server):
        # The application was imported here once, so that a mistake is reported once.
        return _supervise(args, built)
    served_app.install(built)
    os.environ[_ENVIRONMENT_KEY] = spec.to_json()  # for servers that import it in a worker

    def announce(host: str, port: int) -> None:
        if worker is not None:
            worker.ready()  # the supervisor prints the line once every worker listens
            return
        line = _listening_line(built, args.server, host, port, args.workers)
        print(line, file=sys.stderr, flush=True)

    runners.run(
        SERVED_APP_TARGET,
        server=args.server,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        max_message_size=built.server.options.max_message_size if built.server else None,
        on_listening=announce,
        sock=worker.sock if worker is not None else None,
        workers=args.workers,
    )
    return 0


def _supervise(args: argparse.Namespace, built: BuiltApp) -> int:
    """`serve --workers N` on a server without a worker model of its own: bind the
    socket here, run N workers on it (gqlwire.workers), print one listening line."""
    if os.name != "posix":
        raise CLIError(f"--workers needs a POSIX system on {args.server}")
    sock = runners.bind_listening_socket(args.host, args.port)
    with sock:
        runners.check_shared_socket(args.server, sock)
        host, port = (str(part) for part in sock.getsockname()[:2])

        def announce() -> None:
            line = _listening_line(built, args.server, host, int(port), args.workers)
            print(line, file=sys.stderr, flush=True)

        command = _worker_command(args, int(port))
        return workers.Supervisor(args.workers, sock, command, announce).run()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (CLIError, RunnerError) as exc:
        print(f"gqlwire: error: {exc}", file=sys.stderr, flush=True)
        detail = getattr(exc, "detail", "")
        if detail:
            print(detail, file=sys.stderr, flush=True)
        return 2
