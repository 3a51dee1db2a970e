"""Run an application on one of the supported servers, in the foreground.

`run("module:attr", server="hypercorn", host=..., port=...)` serves the application named
by an import string until SIGINT or SIGTERM, then returns normally. What each server can
serve, what the runner adds to it and what clients see when it stops: docs/servers.md.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import importlib
import importlib.util
import logging
import os
import signal
import socket
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, ModuleType
from typing import TYPE_CHECKING, Any, cast

from .asgi_types import ASGIApplication, Message, Receive, Scope, Send
from .lifeline import stop_when_parent_dies

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "LOG_LEVELS",
    "SERVER_NAMES",
    "ListeningCallback",
    "MissingAttributeError",
    "RunnerError",
    "bind_listening_socket",
    "check_server",
    "check_shared_socket",
    "has_own_workers",
    "import_target",
    "install_stop_signals",
    "is_aiohttp_application",
    "run",
    "stop_requested",
    "user_traceback",
]

ListeningCallback = Callable[[str, int], None]
"""Called with the bound (host, port) once the server's socket listens."""

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
"""Log levels every server understands."""

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_BACKLOG = 2048
# How long a stop waits for `close_all()` before the server tears the sockets down anyway
# (each close waits for the client's close frame a few seconds at most).
_CLOSE_ALL_TIMEOUT = 5.0
# How long a stop on hypercorn waits, once it cancelled the applications, for the TCP
# connections to close before it aborts them.
_HYPERCORN_ABORT_DELAY = 2.0
# How long aiohttp waits for request handlers after `on_shutdown` (its default is 60 s).
_AIOHTTP_SHUTDOWN_TIMEOUT = 10.0

logger = logging.getLogger("gqlwire")


class RunnerError(Exception):
    """A server could not be started; the message is one line meant for a user.

    `detail`, when not empty, is what the user needs to see below that line: the
    traceback of their own code that failed while it was imported.
    """

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class MissingAttributeError(RunnerError):
    """The target's module was imported but has no such attribute; `module` is that
    module, so a caller can tell the user what it does have."""

    def __init__(self, message: str, module: ModuleType, attribute: str) -> None:
        super().__init__(message)
        self.module = module
        self.attribute = attribute


# --------------------------------------------------------------------------- import strings


def import_target(target: str) -> object:
    """Import the object named by "module:attr" (attr may be dotted).

    The current directory is put on `sys.path` first, as `python -m` would. Every failure
    is a `RunnerError` with a one-line message.
    """
    module_name, sep, attr_path = target.partition(":")
    if not sep or not module_name or not attr_path:
        raise RunnerError(f"invalid target {target!r}: expected MODULE:ATTR")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise RunnerError(
                f"no module named {module_name!r} (in the current directory or on sys.path)"
            ) from exc
        if exc.name is not None and _is_prefix(exc.name, module_name):
            raise RunnerError(
                f"cannot import {module_name!r}: no module named {exc.name!r}"
            ) from exc
        raise _import_failed(module_name, exc) from exc
    except BaseException as exc:  # any import-time failure of user code, SystemExit included
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise _import_failed(module_name, exc) from exc
    found: object = module
    for index, part in enumerate(attr_path.split(".")):
        try:
            found = getattr(found, part)
        except AttributeError as exc:
            if index == 0:
                raise MissingAttributeError(
                    f"{target!r}: module {module_name!r} has no attribute {part!r}",
                    module,
                    part,
                ) from exc
            raise RunnerError(f"{target!r}: {exc}") from exc
    return found


def _import_failed(module_name: str, exc: BaseException) -> RunnerError:
    """The error for user code that raised while `module_name` was imported: one line,
    with the user's part of the traceback (file, line, source) as its detail."""
    return RunnerError(
        f"error while importing {module_name!r}: {_one_line(exc)}", user_traceback(exc)
    )


def user_traceback(exc: BaseException) -> str:
    """`exc`'s traceback without the frames of the import machinery and of gqlwire that
    led to the user's code, ending with the exception itself (a ``SyntaxError`` shows
    its file, line and the offending source)."""
    frames = traceback.extract_tb(exc.__traceback__)
    start = 0
    while start < len(frames) and _is_machinery(frames[start].filename):
        start += 1
    lines = traceback.format_list(frames[start:])
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip("\n")


_GQLWIRE_DIR = os.path.dirname(os.path.abspath(__file__))
_IMPORTLIB_DIR = os.path.dirname(os.path.abspath(importlib.__file__))


def _is_machinery(filename: str) -> bool:
    if filename.startswith("<frozen importlib"):
        return True
    directory = os.path.dirname(os.path.abspath(filename))
    return directory in (_GQLWIRE_DIR, _IMPORTLIB_DIR)


def _is_prefix(missing: str, module_name: str) -> bool:
    """True if the missing module is `module_name` itself or one of its parent packages."""
    return module_name == missing or module_name.startswith(missing + ".")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _load_app(target: str) -> ASGIApplication:
    """The ASGI application named by `target`, for the ASGI servers."""
    app = import_target(target)
    if is_aiohttp_application(app):
        raise RunnerError(
            f"{target!r} is an aiohttp Application, not an ASGI application: "
            "serve it with --server aiohttp"
        )
    if not callable(app):
        raise RunnerError(f"{target!r} is not an ASGI application (not callable)")
    return cast(ASGIApplication, app)


def _load_aiohttp_app(target: str) -> web.Application:
    """The aiohttp Application named by `target`: an Application, or what the target's
    ``aiohttp_app()`` returns (a GraphQLServer, the command line's ``served_app``)."""
    from aiohttp import web

    found = import_target(target)
    if isinstance(found, web.Application):
        return found
    make_app = getattr(found, "aiohttp_app", None)
    if callable(make_app):
        app = make_app()
        if isinstance(app, web.Application):
            return app
    if callable(found):
        raise RunnerError(
            f"{target!r} is an ASGI application, which aiohttp cannot serve: "
            f"choose an ASGI server with --server ({', '.join(_ASGI_SERVER_NAMES)})"
        )
    raise RunnerError(f"{target!r} is not an aiohttp Application or a GraphQLServer")


def is_aiohttp_application(found: object) -> bool:
    """Whether `found` is an ``aiohttp.web.Application`` (without importing aiohttp:
    if it is not imported yet, nothing can be one, and the ASGI path stays free of it)."""
    aiohttp_web = sys.modules.get("aiohttp.web")
    return aiohttp_web is not None and isinstance(found, aiohttp_web.Application)


async def _close_connections(app: object) -> None:
    """Ask `app` to close its open WebSockets (1001 "Going away"), if it knows how."""
    close_all = getattr(app, "close_all", None)
    if not callable(close_all):
        return
    try:
        async with asyncio.timeout(_CLOSE_ALL_TIMEOUT):
            await close_all()
    except TimeoutError:
        logger.warning(
            "open connections were not all closed within %.0f s of the stop signal",
            _CLOSE_ALL_TIMEOUT,
        )
    except Exception:
        logger.exception("closing the open connections failed")


# --------------------------------------------------------------------------- stop signals


class _StopRequest:
    """SIGINT/SIGTERM as a graceful stop request, from installation until the process ends.

    Servers with their own signal handling replace these handlers while they run; this
    covers the windows before and after (imports, startup) so that a signal is never lost
    and never turns into a traceback.
    """

    def __init__(self) -> None:
        self.requested = False
        self._callbacks: list[Callable[[], None]] = []

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers; the server's own apply
        for sig in _STOP_SIGNALS:
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        self._run_callbacks()

    def _run_callbacks(self) -> None:
        # One pop at a time: a pop cannot be interrupted, so each callback runs once even
        # when the handler interrupts this loop in on_stop and empties the list itself.
        while self._callbacks:
            self._callbacks.pop(0)()

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from the main thread) on the next stop signal, or now if one came."""
        # Registered before the flag is read: a signal handled in between (the handler
        # runs between any two bytecodes of this thread) then finds the callback, where
        # a check first could see no request and then register after the handler ran,
        # and the stop would be lost.
        self._callbacks.append(callback)
        if self.requested:
            self._run_callbacks()

    def clear_callbacks(self) -> None:
        self._callbacks.clear()


_STOP = _StopRequest()


def install_stop_signals() -> None:
    """Turn SIGINT/SIGTERM into a stop request instead of an exit.

    `run()` does this itself; a command line calls it first thing so that a signal that
    arrives while it is still importing the application is honoured too.
    """
    _STOP.install()


def stop_requested() -> bool:
    """Whether SIGINT or SIGTERM arrived since `install_stop_signals()`."""
    return _STOP.requested


# --------------------------------------------------------------------------- the servers


@dataclass(frozen=True)
class _Launch:
    target: str
    host: str
    port: int
    log_level: str
    max_message_size: int | None
    on_listening: ListeningCallback | None
    # A listening socket to serve instead of binding one (a worker of `serve --workers`).
    sock: socket.socket | None = None
    # Worker processes, for a server with a worker model of its own (granian).
    workers: int = 1

    def listening_socket(self) -> socket.socket:
        """The socket to serve: the one handed over, or a new one bound to host:port."""
        if self.sock is not None:
            return self.sock
        return _bind(self.host, self.port)

    def listening(self, sock: socket.socket) -> None:
        if self.on_listening is not None:
            address = sock.getsockname()
            self.on_listening(str(address[0]), int(address[1]))


@dataclass(frozen=True)
class _ServerSpec:
    name: str
    install: str  # what to pip install to get it
    modules: tuple[str, ...]  # importable when the server is installed
    serve: Callable[[_Launch], None]


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket, bound the way the servers bind theirs (SO_REUSEADDR)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise RunnerError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        raise RunnerError(_bind_error(host, port, exc)) from exc
    sock.set_inheritable(True)
    return sock


def bind_listening_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, bound as each runner binds its own
    (``SO_REUSEADDR``, backlog 2048) and inheritable, so that worker processes can serve
    it. Raises `RunnerError` with a one-line message if the address cannot be bound."""
    return _bind(host, port)


def has_own_workers(server: str) -> bool:
    """Whether `server` runs several worker processes itself (`run(workers=N)`), instead
    of serving a listening socket handed to each worker (`run(sock=...)`)."""
    return server in _OWN_WORKER_MODEL


def check_shared_socket(server: str, sock: socket.socket) -> None:
    """Raise `RunnerError` if `server` cannot serve `sock`, a listening socket that
    another process bound and handed over (``serve --workers``)."""
    if has_own_workers(server):
        raise RunnerError(f"{server} binds its own sockets and cannot serve one handed over")
    if server == "daphne" and sock.family != socket.AF_INET:
        # Twisted's adopted-descriptor endpoint, as daphne parses it, is IPv4 only.
        raise RunnerError(
            "daphne can serve a shared listening socket on IPv4 only: bind an IPv4 "
            "address with --host, or choose another server with --workers"
        )


def _bind_error(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {host}:{port}: address already in use"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def _check_bindable(host: str, port: int) -> int:
    """For servers that bind themselves: fail early and clearly if the port is taken.

    Returns the port to give the server (a free one if `port` is 0, so that it is known).
    """
    with _bind(host, port) as sock:
        return int(sock.getsockname()[1])


def _configure_library_logging(log_level: str) -> None:
    """Send gqlwire's own log records to stderr at `log_level` in the serving process,
    unless the process already configured logging (a handler on the root logger)."""
    logger = logging.getLogger("gqlwire")
    logger.setLevel(log_level.upper())
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False


def _wait_for_stop_event() -> asyncio.Event:
    """An event set (in the running loop) when a stop signal arrives."""
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()

    def request_stop() -> None:
        loop.call_soon_threadsafe(stopped.set)

    _STOP.on_stop(request_stop)
    return stopped


def _serve_aiohttp(launch: _Launch) -> None:
    from aiohttp import web

    sock = launch.listening_socket()
    try:
        application = _load_aiohttp_app(launch.target)
    except BaseException:
        sock.close()
        raise
    # aiohttp's access log and its "Error handling request" lines go to stderr.
    logging.basicConfig(
        level=launch.log_level.upper(),
        format="%(levelname)s:%(name)s: %(message)s",
        stream=sys.stderr,
    )

    async def main() -> None:
        stopped = _wait_for_stop_event()
        runner = web.AppRunner(
            application, handle_signals=False, shutdown_timeout=_AIOHTTP_SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        listener: asyncio.Server | None = None
        try:
            # What web.SockSite does, with a protocol factory that bounds the first
            # request's head (aiohttp has no setting for it).
            listener = await asyncio.get_running_loop().create_server(
                _aiohttp_protocol_with_header_timeout(runner), sock=sock, backlog=_BACKLOG
            )
            launch.listening(sock)
            await stopped.wait()
        finally:
            if listener is not None:
                listener.close()  # stops listening, as a site's stop() does
            else:
                sock.close()
            # Runs the Application's on_shutdown (gqlwire closes its WebSockets with
            # 1001 there), waits for the handlers, then on_cleanup.
            await runner.cleanup()

    asyncio.run(main())


def _serve_uvicorn(launch: _Launch, ws: str) -> None:
    import uvicorn

    sock = launch.listening_socket()
    options: dict[str, Any] = {}
    if launch.max_message_size is not None:
        options["ws_max_size"] = launch.max_message_size
    app = _load_app(launch.target)
    config = uvicorn.Config(
        app,
        host=launch.host,
        port=launch.port,
        ws=ws,
        http=_uvicorn_http_with_header_timeout(),
        log_level=launch.log_level,
        **options,
    )

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # uvicorn's own shutdown closes every WebSocket with 1012 "Service Restart".
            await _close_connections(app)
            await super().shutdown(sockets)

    server = Server(config)
    _quiet_invalid_utf8(logging.getLogger("uvicorn.error"))

    # uvicorn installs its own SIGINT/SIGTERM handlers while it serves, then restores ours
    # and raises the signal again; ours only records it, so the process exits normally.
    def request_exit() -> None:
        server.should_exit = True

    _STOP.on_stop(request_exit)
    launch.listening(sock)
    server.run(sockets=[sock])


HEADER_TIMEOUT = 10.0
"""Seconds a new connection may take to send its first request's head (a WebSocket
upgrade included): on aiohttp and uvicorn, which have no such setting (a client sending
half a request line and then nothing held a socket forever: slowloris), and on granian,
whose own default is 30 s from the first byte."""


def _aiohttp_protocol_with_header_timeout(
    runner: web.AppRunner,
) -> Callable[[], web.RequestHandler]:
    """aiohttp's protocol factory (the runner's web.Server), with a timer per new
    connection that drops it if no request's head has been parsed HEADER_TIMEOUT later
    (aiohttp counts a request once its head is parsed: a WebSocket upgrade or a request
    whose body is still arriving is not cut). Nothing runs per request."""
    server = runner.server
    assert server is not None
    loop = asyncio.get_running_loop()

    def drop_if_no_request(handler: web.RequestHandler) -> None:
        if handler._request_count == 0 and handler.transport is not None:
            handler.force_close()  # what aiohttp's own idle timeout calls

    def protocol() -> web.RequestHandler:
        handler = server()
        loop.call_later(HEADER_TIMEOUT, drop_if_no_request, handler)
        return handler

    return protocol


def _uvicorn_http_with_header_timeout() -> type[asyncio.Protocol]:
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class HeaderTimeoutProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            asyncio.get_running_loop().call_later(HEADER_TIMEOUT, self._gqlwire_header_timeout)

        def _gqlwire_header_timeout(self) -> None:
            transport = self.transport
            if (
                self.cycle is None  # no request's head has been read yet
                and transport is not None
                and not transport.is_closing()
                and transport.get_protocol() is self  # not upgraded to a WebSocket
            ):
                transport.close()

    return HeaderTimeoutProtocol


class _InvalidUTF8Filter(logging.Filter):
    """uvicorn's WebSocket implementation logs an ERROR with a traceback for every text
    frame that is not UTF-8, although it answers it correctly (close 1007): any client
    could flood the log. Such a record is demoted to one DEBUG line without traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Invalid UTF-8 sequence received from client"):
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def _quiet_invalid_utf8(logger_: logging.Logger) -> None:
    if not any(isinstance(f, _InvalidUTF8Filter) for f in logger_.filters):
        logger_.addFilter(_InvalidUTF8Filter())


def _serve_hypercorn(launch: _Launch) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    sock = launch.listening_socket()
    address = sock.getsockname()
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn takes ownership of the descriptor
    config.loglevel = launch.log_level.upper()
    _bound_hypercorn_message_buffer()
    if launch.max_message_size is not None:
        # hypercorn's own limit, so that an oversized message is refused while it
        # arrives (close 1009) instead of reaching the application whole.
        config.websocket_max_message_size = launch.max_message_size
    app = _load_app(launch.target)

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(_quiet_cancelled_connections)
        stopped = _wait_for_stop_event()

        async def shutdown_trigger() -> None:
            await stopped.wait()
            # Before hypercorn's graceful stop, which ends WebSockets with 1011 after 3 s.
            await _close_connections(app)
            _end_hypercorn_connections_after(config.graceful_timeout)

        await serve(app, config, shutdown_trigger=shutdown_trigger, mode="asgi")  # type: ignore[arg-type]

    # The descriptor is already listening, so connections queue from here on.
    if launch.on_listening is not None:
        launch.on_listening(str(address[0]), int(address[1]))
    asyncio.run(main())


def _bound_hypercorn_message_buffer() -> None:
    """hypercorn (0.18) refuses a message over its limit with close 1009 but goes on
    buffering the rest of it: a fragmented 300 MiB message was held whole. Once refused,
    the buffer keeps nothing more (hypercorn then delivers nothing of that message)."""
    from hypercorn.protocol import ws_stream

    buffer_class = ws_stream.WebsocketBuffer
    if getattr(buffer_class, "_gqlwire_bounded", False):
        return
    extend = buffer_class.extend

    def bounded_extend(self: Any, event: Any) -> None:
        if self.length > self.max_length:  # refused already: keep nothing
            raise ws_stream.FrameTooLargeError()
        try:
            extend(self, event)
        except ws_stream.FrameTooLargeError:
            self.value = None
            raise

    buffer_class.extend = bounded_extend  # type: ignore[method-assign]
    buffer_class._gqlwire_bounded = True  # type: ignore[attr-defined]


def _end_hypercorn_connections_after(delay: float) -> None:
    """End what hypercorn still serves ``delay`` seconds from now, as it does itself on
    Python 3.11, so that a stop never waits for a client.

    From Python 3.12 on, ``asyncio.Server.wait_closed()`` waits for every open
    connection, and hypercorn (0.18) awaits it before its graceful timeout starts and
    before it sends ``lifespan.shutdown``: a WebSocket that ``close_all()`` cannot reach
    (an application of the user's own) held the stop forever. On 3.11 hypercorn cancels
    such connections once ``graceful_timeout`` has passed (their clients get 1011).

    This cancels the application's task of each request or socket still running (a
    gqlwire connection then closes with 1011 and hypercorn closes the TCP connection),
    and, a moment later, aborts the TCP connections still open (a client that reads
    nothing holds a close in the socket's buffer). The connection tasks themselves are
    not cancelled: hypercorn gathers them after ``wait_closed()`` and would raise the
    cancellation. Tasks are recognised by hypercorn's coroutines: ``_handle`` (the
    application) and ``_server_callback`` (the connection).
    """
    loop = asyncio.get_running_loop()

    def cancel_applications() -> None:
        for task in _hypercorn_tasks(loop, "_handle"):
            task.cancel()
        loop.call_later(_HYPERCORN_ABORT_DELAY, abort_connections)

    def abort_connections() -> None:
        for task in _hypercorn_tasks(loop, "_server_callback"):
            frame = getattr(task.get_coro(), "cr_frame", None)
            writer = frame.f_locals.get("writer") if frame is not None else None
            if isinstance(writer, asyncio.StreamWriter):
                writer.transport.abort()

    loop.call_later(delay, cancel_applications)


def _hypercorn_tasks(loop: asyncio.AbstractEventLoop, name: str) -> list[asyncio.Task[Any]]:
    """The running tasks of ``loop`` whose coroutine is hypercorn's function ``name``."""
    found = []
    for task in asyncio.all_tasks(loop):
        code = getattr(task.get_coro(), "cr_code", None)
        if (
            code is not None
            and code.co_name == name
            and f"{os.sep}hypercorn{os.sep}" in code.co_filename
        ):
            found.append(task)
    return found


def _quiet_cancelled_connections(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Drop the CancelledError that CPython 3.11 logs for a cancelled `start_server` task.

    hypercorn cancels connections still open when its graceful timeout ends (WebSockets
    are never idle, so it does not close them itself); `asyncio.start_server`'s done
    callback then calls `task.exception()` on the cancelled task and logs a traceback.
    """
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


def _serve_daphne(launch: _Launch) -> None:
    # daphne.server installs Twisted's asyncio reactor on import: import it before anything
    # else in this process touches Twisted.
    from daphne.server import Server
    from twisted.internet import reactor

    logging.basicConfig(
        level=launch.log_level.upper(),
        format="%(levelname)s:%(name)s: %(message)s",
        stream=sys.stderr,
    )
    sock = launch.listening_socket()
    address = sock.getsockname()
    if sock.family == socket.AF_INET:
        # The adopted-descriptor endpoint duplicates the descriptor and closes ours.
        endpoint = f"fd:fileno={sock.detach()}"
    else:
        # daphne's "fd:" parser only handles IPv4 (it passes the family on as a string).
        if launch.sock is not None:
            check_shared_socket("daphne", sock)
        sock.close()
        endpoint = f"tcp6:port={address[1]}:interface={_twisted_escape(str(address[0]))}"
    options: dict[str, Any] = {}
    if launch.max_message_size is not None:
        # autobahn drops the TCP connection (no close frame) on a bigger message.
        options["websocket_max_message_size"] = launch.max_message_size
        options["websocket_max_frame_size"] = launch.max_message_size
    app = _load_app(launch.target)

    _send_messages_of_any_size()
    _bound_daphne_read_ahead()
    _drop_daphne_requests_without_a_head(reactor)

    # daphne calls the application with keyword arguments (scope=, receive=, send=).
    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "websocket":
            receive = _DaphneReadGate.wrap(send, receive)
            send = _DaphneWriteGate.wrap(send)
        elif scope.get("type") == "http":
            send = _DaphneWriteGate.wrap_streamed_body(send)
        await app(scope, receive, send)

    server = Server(
        application,
        endpoints=[endpoint],
        signal_handlers=False,
        **options,
    )

    def close_then_stop() -> None:
        # In the reactor, which runs daphne's asyncio loop: close gqlwire's sockets while
        # the reactor can still send the close frames, then stop (daphne itself would
        # drop every TCP connection).
        if not reactor.running:
            server.stop()
            return
        closing = asyncio.get_running_loop().create_task(_close_connections(app))
        closing.add_done_callback(lambda _: server.stop())

    def stop() -> None:
        reactor.callFromThread(close_then_stop)  # safe from a signal handler, before or after run

    def announce() -> None:
        # The reactor runs: daphne has started listening (or logged why it could not).
        if launch.on_listening is not None and server.listening_addresses:
            host, port = server.listening_addresses[0]
            launch.on_listening(str(host), int(port))

    _STOP.on_stop(stop)
    reactor.callWhenRunning(announce)
    server.run()
    if not server.listening_addresses and not _STOP.requested:
        raise RunnerError(f"daphne could not listen on {launch.host}:{launch.port}")


def _send_messages_of_any_size() -> None:
    """autobahn applies its message size limit to what it sends too, and daphne drops a
    refused message without a word: a result larger than ``max_message_size`` would be
    lost. The limit is for what clients send; it is lifted for our own messages."""
    from daphne.ws_protocol import WebSocketProtocol

    if getattr(WebSocketProtocol, "_gqlwire_any_size", False):
        return
    send_message = WebSocketProtocol.sendMessage

    def send_any_size(self: Any, *args: Any, **kwargs: Any) -> Any:
        limit = self.maxMessagePayloadSize
        self.maxMessagePayloadSize = 0
        try:
            return send_message(self, *args, **kwargs)
        finally:
            self.maxMessagePayloadSize = limit

    WebSocketProtocol.sendMessage = send_any_size
    WebSocketProtocol._gqlwire_any_size = True


DAPHNE_READ_AHEAD = 1 << 20
"""Bytes of WebSocket messages daphne may have read for an application that has not
taken them yet; past it, the socket is read no more until the application catches up."""


class _DaphneReadGate:
    """Back-pressure for what daphne reads, which it does not have: Twisted reads whatever
    a client sends and daphne queues every message for the application without bound,
    also while gqlwire reads nothing (its own back-pressure) and after it closed the socket.

    Each message daphne queues is counted here (its size, in arrival order); once more
    than :data:`DAPHNE_READ_AHEAD` bytes wait, the socket's transport stops reading, and
    it reads again once the application has taken half of them. What a client sends past
    that waits in its own TCP buffers, as on every other server. The gate lives on the
    protocol and refers to nothing: no reference cycle keeps a closed socket's queued
    messages alive until a garbage collection.
    """

    __slots__ = ("paused", "queued", "sizes")

    def __init__(self) -> None:
        self.sizes: deque[int] = deque()
        self.queued = 0
        self.paused = False

    def arrived(self, transport: Any, size: int) -> None:
        self.sizes.append(size)
        self.queued += size
        if not self.paused and self.queued > DAPHNE_READ_AHEAD:
            self.paused = True
            transport.pauseProducing()

    def taken(self, transport: Any) -> None:
        if self.sizes:
            self.queued -= self.sizes.popleft()
        if self.paused and self.queued <= DAPHNE_READ_AHEAD // 2:
            self.paused = False
            if transport is not None and getattr(transport, "connected", False):
                transport.resumeProducing()

    @classmethod
    def wrap(cls, send: Send, receive: Receive) -> Receive:
        protocol = send.args[0] if isinstance(send, functools.partial) and send.args else None
        if protocol is None:
            return receive

        async def counted_receive() -> Message:
            message = await receive()
            if message.get("type") == "websocket.receive":
                gate = protocol.__dict__.get("_gqlwire_read_gate")
                if gate is not None:
                    gate.taken(protocol.transport)
            return message

        return counted_receive


def _bound_daphne_read_ahead() -> None:
    """Counts each message daphne queues for the application (see _DaphneReadGate)."""
    from daphne.ws_protocol import WebSocketProtocol

    if getattr(WebSocketProtocol, "_gqlwire_read_gate_installed", False):
        return
    on_message = WebSocketProtocol.onMessage

    def counted_on_message(self: Any, payload: bytes, is_binary: bool) -> Any:
        result = on_message(self, payload, is_binary)
        transport = self.transport
        if not self.muted and getattr(transport, "pauseProducing", None) is not None:
            gate = self.__dict__.get("_gqlwire_read_gate")
            if gate is None:
                gate = self.__dict__["_gqlwire_read_gate"] = _DaphneReadGate()
            gate.arrived(transport, len(payload))
        return result

    WebSocketProtocol.onMessage = counted_on_message
    WebSocketProtocol._gqlwire_read_gate_installed = True


def _drop_daphne_requests_without_a_head(reactor: Any) -> None:
    """daphne (twisted.web) keeps a connection whose request's head never ends (its idle
    timeout is 12 hours and restarts with every byte): each new connection gets a timer
    that drops it if no request's head has been read HEADER_TIMEOUT later, as on aiohttp
    and uvicorn. A WebSocket upgrade, a slow body and later keep-alive requests are not
    affected; nothing runs per request but one attribute set once the head is read."""
    from daphne.http_protocol import HTTPFactory
    from twisted.web.http import HTTPChannel

    if getattr(HTTPFactory, "_gqlwire_header_timeout", False):
        return
    all_headers_received = HTTPChannel.allHeadersReceived
    build_protocol = HTTPFactory.buildProtocol

    def head_read(self: Any) -> Any:
        self._gqlwire_head_read = True
        return all_headers_received(self)  # type: ignore[no-untyped-call]

    def drop_if_no_head(protocol: Any) -> None:
        channel = getattr(protocol, "_channel", protocol)  # twisted's HTTP/1-or-2 wrapper
        if getattr(channel, "_gqlwire_head_read", False):
            return
        transport = getattr(channel, "transport", None)
        if transport is not None and getattr(transport, "connected", False):
            transport.loseConnection()

    def build_with_timer(self: Any, addr: Any) -> Any:
        protocol = build_protocol(self, addr)
        reactor.callLater(HEADER_TIMEOUT, drop_if_no_head, protocol)
        return protocol

    HTTPChannel.allHeadersReceived = head_read  # type: ignore[method-assign]
    HTTPFactory.buildProtocol = build_with_timer
    HTTPFactory._gqlwire_header_timeout = True


class _DaphneWriteGate:
    """Back-pressure for daphne, whose ``websocket.send`` never waits: Twisted buffers
    whatever a client does not read, without a bound.

    Registered as the socket's streaming producer, Twisted tells it when the write buffer
    passes its high-water mark (64 KiB) and when it has drained; a ``websocket.send`` then
    returns only once there is room, as on the other servers, so that the application's
    own bounded queue (``max_pending_bytes``) is what fills up.
    """

    def __init__(self, chained: Any = None) -> None:
        self.room = asyncio.Event()
        self.room.set()
        self.chained = chained  # the producer registered before us (twisted.web's channel)

    @classmethod
    def wrap(cls, send: Send, gated_type: str = "websocket.send") -> Send:
        protocol = send.args[0] if isinstance(send, functools.partial) and send.args else None
        transport: Any = getattr(protocol, "transport", None)
        register = getattr(transport, "registerProducer", None)
        if register is None:
            return send
        existing = getattr(transport, "producer", None)
        if existing is None:
            gate = cls()
            try:
                register(gate, True)
            except Exception as error:
                logger.debug("daphne write gate not installed: %r", error)
                return send
        elif getattr(transport, "streamingProducer", False):
            # twisted.web's HTTP channel stays registered after the upgrade: it is told
            # everything it was told before, through us.
            gate = cls(existing)
            transport.producer = gate
        else:
            return send

        async def gated_send(message: Message) -> None:
            await send(message)
            if not gate.room.is_set() and message.get("type") == gated_type:
                await gate.room.wait()

        return gated_send

    @classmethod
    def wrap_streamed_body(cls, send: Send) -> Send:
        """The same for a streamed HTTP response (SSE, multipart): the gate is installed
        at its first body chunk that is not the last one, so that ordinary responses
        (and the keep-alive connection they leave) are untouched; a connection that
        already has one (a later stream on it) reuses it."""
        gated: Send | None = None

        async def send_body(message: Message) -> None:
            nonlocal gated
            if gated is None and message.get("more_body"):
                protocol = (
                    send.args[0] if isinstance(send, functools.partial) and send.args else None
                )
                transport: Any = getattr(protocol, "transport", None)
                existing = getattr(transport, "producer", None)
                if isinstance(existing, cls):
                    gate = existing

                    async def reuse(message: Message) -> None:
                        await send(message)
                        if not gate.room.is_set() and message.get("more_body"):
                            await gate.room.wait()

                    gated = reuse
                else:
                    gated = cls.wrap(send, "http.response.body")
            await (gated or send)(message)

        return send_body

    # IPushProducer, called by Twisted in the event loop's thread.
    def pauseProducing(self) -> None:
        self.room.clear()
        if self.chained is not None:
            self.chained.pauseProducing()

    def resumeProducing(self) -> None:
        self.room.set()
        if self.chained is not None:
            self.chained.resumeProducing()

    def stopProducing(self) -> None:
        self.room.set()  # the connection is gone: nothing waits for it
        if self.chained is not None:
            self.chained.stopProducing()


def _twisted_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def _load_in_granian_worker(log_level: str, target: str) -> ASGIApplication:
    """granian's target loader: runs in the worker process, which imports the app itself.

    The worker stops itself if granian's main process dies without stopping it (SIGKILL),
    so that no worker outlives the command."""
    stop_when_parent_dies()
    _configure_library_logging(log_level)
    return _load_app(target)


def _serve_granian(launch: _Launch) -> None:
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    # granian binds in its main process and has no hook for a pre-bound socket.
    port = _check_bindable(launch.host, launch.port)
    # Fail here, in the main process, rather than in the worker.
    _load_app(launch.target)
    server = Granian(
        launch.target,
        address=launch.host,
        port=port,
        interface=Interfaces.ASGI,
        workers=launch.workers,
        # granian's own supervision: a worker that dies is started again, unless it died
        # within a few seconds of its last start (granian then stops: a crash loop).
        respawn_failed_workers=launch.workers > 1,
        log_level=LogLevels(launch.log_level),
        websockets=True,
        # Bounds the worker's graceful stop (granian's default is to wait indefinitely).
        workers_kill_timeout=_GRANIAN_KILL_TIMEOUT,
        # A request's head must arrive within HEADER_TIMEOUT once it began (granian: 30 s).
        http1_settings=HTTP1Settings(header_read_timeout=int(HEADER_TIMEOUT * 1000)),
    )

    def started() -> None:
        # Runs after granian bound its socket and installed its own signal handlers;
        # a stop signal that came earlier is handed over here.
        if _STOP.requested:
            server.signal_handler_interrupt()  # type: ignore[no-untyped-call]
        if launch.on_listening is not None:
            launch.on_listening(launch.host, port)

    server.on_startup(started)
    # granian has no WebSocket message size setting: the application's own limit applies.
    server.serve(target_loader=functools.partial(_load_in_granian_worker, launch.log_level))


_GRANIAN_KILL_TIMEOUT = 10

_OWN_WORKER_MODEL = frozenset({"granian"})
"""Servers whose main process binds the socket and supervises workers of its own; the
others serve one socket handed to each worker (docs/servers.md, "Many workers")."""

_SPECS: dict[str, _ServerSpec] = {
    spec.name: spec
    for spec in (
        # First: the default of the command line, and a core dependency of gqlwire.
        _ServerSpec("aiohttp", "aiohttp", ("aiohttp",), _serve_aiohttp),
        _ServerSpec(
            "uvicorn",
            '"gqlwire[uvicorn]"',
            ("uvicorn", "websockets"),
            functools.partial(_serve_uvicorn, ws="websockets-sansio"),
        ),
        _ServerSpec(
            "uvicorn-wsproto",
            '"gqlwire[uvicorn]"',
            ("uvicorn", "wsproto"),
            functools.partial(_serve_uvicorn, ws="wsproto"),
        ),
        _ServerSpec("hypercorn", '"gqlwire[hypercorn]"', ("hypercorn",), _serve_hypercorn),
        _ServerSpec("daphne", '"gqlwire[daphne]"', ("daphne", "twisted"), _serve_daphne),
        _ServerSpec("granian", '"gqlwire[granian]"', ("granian",), _serve_granian),
    )
}

SERVER_NAMES: tuple[str, ...] = tuple(_SPECS)
"""Every server name, the default (aiohttp) first."""

_ASGI_SERVER_NAMES = tuple(name for name in SERVER_NAMES if name != "aiohttp")


def _spec(server: str) -> _ServerSpec:
    spec = _SPECS.get(server)
    if spec is None:
        raise RunnerError(f"unknown server {server!r}; choose one of {', '.join(SERVER_NAMES)}")
    for module in spec.modules:
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            found = None
        if found is None:
            raise RunnerError(
                f"server {server!r} is not installed (module {module!r} is missing): "
                f"pip install {spec.install}"
            )
    return spec


def check_server(server: str) -> None:
    """Raise `RunnerError` if `server` is unknown or not installed."""
    _spec(server)


def run(
    target: str,
    *,
    server: str,
    host: str,
    port: int,
    log_level: str = "info",
    max_message_size: int | None = None,
    on_listening: ListeningCallback | None = None,
    sock: socket.socket | None = None,
    workers: int = 1,
) -> None:
    """Serve the app named by `target` ("module:attr") on `server` until SIGINT/SIGTERM.

    The ASGI servers need an ASGI callable; aiohttp needs an aiohttp Application or an
    object with an ``aiohttp_app()`` method (docs/servers.md).

    Returns normally after a signal (the server shut down gracefully). Raises `RunnerError`
    for an unknown or missing server, a target that cannot be imported, or an address
    that cannot be bound. `max_message_size` (bytes) becomes the server's WebSocket
    message limit where it has one, so oversized frames are refused early (aiohttp has
    none: each gqlwire handler applies its own ``max_message_size``).

    `sock`, a listening socket bound by another process (a worker of ``serve
    --workers``), is served instead of binding host:port; `workers` > 1 runs that many
    worker processes on a server that has its own worker model (`has_own_workers`).
    """
    spec = _spec(server)
    if sock is not None:
        check_shared_socket(server, sock)
    if workers < 1:
        raise RunnerError(f"expected at least 1 worker, got {workers}")
    if workers > 1 and not has_own_workers(server):
        raise RunnerError(
            f"run() serves {server} in this process only: `gqlwire serve --workers` "
            "starts several worker processes"
        )
    if log_level.lower() not in LOG_LEVELS:
        raise RunnerError(f"unknown log level {log_level!r}; choose one of {', '.join(LOG_LEVELS)}")
    install_stop_signals()
    if _STOP.requested:
        return
    launch = _Launch(
        target, host, port, log_level.lower(), max_message_size, on_listening, sock, workers
    )
    _configure_library_logging(launch.log_level)
    try:
        spec.serve(launch)
    finally:
        _STOP.clear_callbacks()
