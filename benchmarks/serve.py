"""Run one benchmark server configuration in the foreground, one worker, asyncio loop:

python -m benchmarks.serve gqlwire-aiohttp --port 8000
"""

from __future__ import annotations

import argparse
import sys

from .configs import CONFIGS_BY_NAME, ServerConfig
from .feed import raise_open_file_limit

BACKLOG = 2048


def serve(config: ServerConfig, host: str, port: int) -> None:
    if config.server == "aiohttp":
        import asyncio
        import importlib

        from aiohttp import web

        module = importlib.import_module(f"benchmarks.apps.{config.module}")
        web.run_app(
            module.make_aiohttp_app(),
            host=host,
            port=port,
            backlog=BACKLOG,
            print=None,
            access_log=None,
            shutdown_timeout=5,
            loop=asyncio.new_event_loop(),
        )
    elif config.server == "uvicorn":
        import uvicorn

        uvicorn.run(
            config.asgi_target,
            host=host,
            port=port,
            ws="websockets-sansio",
            loop="asyncio",
            lifespan="on",
            log_level="warning",
            backlog=BACKLOG,
            workers=1,
        )
    elif config.server == "granian":
        from granian import Granian
        from granian.constants import Interfaces, Loops
        from granian.log import LogLevels

        Granian(
            config.asgi_target,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=1,
            loop=Loops.asyncio,
            websockets=True,
            backlog=BACKLOG,
            log_level=LogLevels.warning,
            workers_kill_timeout=10,
        ).serve()
    else:
        raise ValueError(f"unknown server {config.server!r}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve")
    parser.add_argument("config", choices=sorted(CONFIGS_BY_NAME))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    raise_open_file_limit()
    serve(CONFIGS_BY_NAME[args.config], args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
