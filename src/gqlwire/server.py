"""GraphQLServer: the options, the hooks, and the apps built from them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .connection import SHUTDOWN, ConnectionRegistry
from .options import ServerOptions
from .runtime import ServerRuntime

if TYPE_CHECKING:
    from aiohttp import web
    from starlette.routing import BaseRoute

    from .adapters.asgi import ASGIApp


class GraphQLServer:
    """GraphQL over WebSocket (``graphql-transport-ws`` and legacy ``graphql-ws``) and
    over HTTP, for one schema.

    ``schema`` is a graphql-core ``GraphQLSchema``; a Strawberry, Ariadne or Graphene
    schema; a function ``(ctx, id, payload, args) -> schema`` (sync or async) for a
    schema chosen per operation; or ``None`` when ``on_subscribe`` always returns
    complete :class:`~gqlwire.ExecutionArgs`.

    The options and hooks are graphql-ws's ``ServerOptions`` in snake_case, with the
    same arguments and the same meaning of return values; hooks may be plain functions
    or coroutine functions. See the README's configuration reference for each one.
    """

    def __init__(self, schema: Any, **options: Any) -> None:
        self._build(ServerOptions(schema=schema, **options))

    @classmethod
    def _from_options(cls, options: ServerOptions) -> GraphQLServer:
        server = cls.__new__(cls)
        server._build(options)
        return server

    def _build(self, options: ServerOptions) -> None:
        self.options = options
        """The configuration, as given (checked)."""
        self.runtime = ServerRuntime(options)
        """What the apps of this server run with, built from :attr:`options`."""
        self._registry = ConnectionRegistry()

    def replace(self, **changes: Any) -> GraphQLServer:
        """A new server with the same options except ``changes``."""
        return self._from_options(self.options.replace(**changes))

    def asgi(self) -> ASGIApp:
        """An ASGI 3 application serving WebSocket, HTTP and lifespan on any path it
        is mounted at."""
        from .adapters.asgi import ASGIApp

        return ASGIApp(self.runtime, self._registry)

    def routes(self, path: str = "/graphql") -> list[BaseRoute]:
        """Starlette routes serving WebSocket and HTTP at exactly ``path``.

        ``Starlette(routes=[*graphql.routes("/graphql"), ...])``; FastAPI takes the same
        routes (``app.router.routes.extend(graphql.routes("/graphql"))``). A ``Mount``
        cannot do this: it matches only the paths below its own (``/graphql/...``), and
        Starlette then redirects an HTTP request for ``/graphql`` and refuses a WebSocket
        handshake there with 403. Starlette is imported only here, so it stays optional.
        """
        try:
            from starlette.routing import Route, WebSocketRoute
        except ImportError:
            raise ImportError(
                "GraphQLServer.routes() builds Starlette routes, but Starlette is not "
                "installed (pip install starlette); any other ASGI framework can mount "
                "GraphQLServer.asgi()"
            ) from None
        app = self.asgi()
        return [Route(path, app), WebSocketRoute(path, app)]

    def aiohttp(self) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """An aiohttp request handler (``app.router.add_route("*", "/graphql", handler)``)
        serving WebSocket and HTTP on its route."""
        from .adapters.aiohttp import AiohttpHandler

        return AiohttpHandler(self.runtime, self._registry).handle

    def aiohttp_app(self, path: str = "/graphql") -> web.Application:
        """A ready aiohttp ``Application`` with the handler at ``path``; on shutdown it
        closes every WebSocket with 1001 ``Going away``."""
        from .adapters.aiohttp import AiohttpHandler, application

        return application(AiohttpHandler(self.runtime, self._registry), path)

    def stats(self) -> dict[str, int]:
        """Open connections and running operations, across every app of this server."""
        registry = self._registry
        return {
            "connections": len(registry.connections),
            "operations": registry.operations(),
            "dropped_messages": registry.dropped_messages(),
            "slow_consumers_closed": registry.slow_consumers_closed,
            **self.runtime.sharing.stats(),
        }

    async def close_all(self, code: int = SHUTDOWN.code, reason: str = SHUTDOWN.reason) -> None:
        """Close every open connection (for a graceful shutdown)."""
        await self._registry.close_all(code, reason)

    def __repr__(self) -> str:
        return f"<GraphQLServer schema={type(self.options.schema).__name__}>"
