"""The servers a ``per_adapter`` test runs on: one per adapter, from those chosen."""

from __future__ import annotations

import pytest

from gqlwire.runners import SERVER_NAMES
from tests.harness.matrix import one_server_per_adapter


@pytest.mark.parametrize(
    ("chosen", "runs_on"),
    [
        (list(SERVER_NAMES), ["aiohttp", "uvicorn"]),
        (["aiohttp", "uvicorn", "granian"], ["aiohttp", "uvicorn"]),
        (["granian", "hypercorn", "aiohttp"], ["aiohttp", "granian"]),
        (["daphne", "hypercorn"], ["daphne"]),
        (["aiohttp"], ["aiohttp"]),
        ([], []),
    ],
)
def test_aiohttp_and_the_first_asgi_server_chosen(chosen: list[str], runs_on: list[str]) -> None:
    assert one_server_per_adapter(chosen) == runs_on


def test_the_default_order_starts_with_both_adapters() -> None:
    # The default pair is aiohttp and uvicorn only because SERVER_NAMES lists them first.
    assert SERVER_NAMES[:2] == ("aiohttp", "uvicorn")
