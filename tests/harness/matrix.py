"""Which servers a server-parametrized test runs on (see ``tests/conftest.py``)."""

from __future__ import annotations


def one_server_per_adapter(names: list[str]) -> list[str]:
    """aiohttp, if chosen, and the first other chosen server: between them every line of
    gqlwire's two adapters runs (the ASGI servers all share one adapter)."""
    aiohttp = [name for name in names if name == "aiohttp"]
    asgi = [name for name in names if name != "aiohttp"]
    return aiohttp + asgi[:1]
