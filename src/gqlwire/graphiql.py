"""The GraphiQL page a browser gets on the GraphQL endpoint, with its assets, offline.

A ``GET`` whose ``Accept`` prefers ``text/html`` to the GraphQL JSON types (what a browser
sends when someone opens the URL) gets a small HTML page; the page loads one script and
one stylesheet from the same URL, as ``?graphiql=<name>``, so it works at whatever path
the endpoint is mounted. The assets are built from the npm packages of
``frontend/graphiql/`` (its lock file pins every version) and ship in the wheel under
``graphiql_assets/``: nothing is loaded from another origin, which the page's
Content-Security-Policy enforces. Each asset's name carries a hash of its bytes, so it
can be cached for good; the page itself is revalidated on every load.

The page and its assets are static and carry no data: ``on_connect`` is not called for
them. Every query the page sends is an ordinary request (HTTP ``POST`` or a
``graphql-transport-ws`` socket) and meets ``on_connect`` and every other check as such.
The rules are in docs/graphiql.md.

This module is sans-I/O and knows no response type: :func:`graphiql_response` returns the
status, headers and body for ``http.py`` to wrap.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Final
from urllib.parse import parse_qs

ASSET_PARAMETER: Final = "graphiql"
"""The query parameter that names an asset: ``<endpoint>?graphiql=graphiql-<hash>.js``."""

ASSET_DIRECTORY: Final = "graphiql_assets"
"""Where the built assets live inside the ``gqlwire`` package."""

_ASSET_FILES: Final = (("graphiql.js", "text/javascript"), ("graphiql.css", "text/css"))

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        # CodeMirror and GraphiQL's panes set element styles at run time.
        "style-src 'self' 'unsafe-inline'",
        # GraphiQL's fonts and icons are inlined into its stylesheet as data: URLs.
        "font-src 'self' data:",
        "img-src 'self' data:",
        # 'self' covers ws: and wss: to the page's own host and port.
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
"""What the page may load: its own origin only (and the data: URLs of its stylesheet)."""

Response = tuple[int, list[tuple[str, str]], bytes]
"""Status, headers, body; ``http.py`` makes its ``HTTPResponse`` of it."""


@dataclass(frozen=True, slots=True)
class Asset:
    name: str
    """As requested: ``graphiql-<first 16 hex digits of its SHA-256>.js``."""
    content_type: str
    body: bytes
    gzipped: bytes
    """The same, gzip-compressed (a third of the size), for clients that accept it."""


@dataclass(frozen=True, slots=True)
class Bundle:
    """The page and the assets it loads, read once from the package."""

    page: bytes
    assets: dict[str, Asset]


def graphiql_response(
    method: str, query_string: str, headers: Mapping[str, str]
) -> Response | None:
    """The page or an asset, or ``None`` when the request is not for GraphiQL.

    For GraphiQL are: a ``GET`` whose only query parameter is ``graphiql`` (an asset:
    404 when no asset has that name), and a ``GET`` whose ``Accept`` prefers
    ``text/html`` to both GraphQL JSON types (the page, whatever the query string
    holds). Everything else, ``*/*`` alone included, is left to GraphQL over HTTP.
    """
    if method != "GET":
        return None
    asset_name = _requested_asset(query_string)
    if asset_name is not None:
        return _asset_response(asset_name, accepts_gzip(headers.get("accept-encoding")))
    if prefers_html(headers.get("accept")):
        return _page_response()
    return None


def _requested_asset(query_string: str) -> str | None:
    if ASSET_PARAMETER not in query_string:
        return None  # the common case, without parsing
    try:
        values = parse_qs(query_string, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        return None
    if set(values) != {ASSET_PARAMETER} or len(values[ASSET_PARAMETER]) != 1:
        return None
    return values[ASSET_PARAMETER][0]


def _asset_response(name: str, gzipped: bool) -> Response:
    asset = bundle().assets.get(name)
    if asset is None:
        # Not a GraphQL result: plain text, like any other missing file. It echoes the
        # name (shortened), so browsers must not sniff it into anything else.
        return (
            404,
            [
                ("content-type", "text/plain; charset=utf-8"),
                ("cache-control", "no-store"),
                ("x-content-type-options", "nosniff"),
            ],
            f"No GraphiQL asset is named {name[:100]!r}\n".encode(),
        )
    headers = [
        ("content-type", f"{asset.content_type}; charset=utf-8"),
        # The name changes with the bytes: a cached copy is never stale.
        ("cache-control", "public, max-age=31536000, immutable"),
        ("x-content-type-options", "nosniff"),
        ("vary", "Accept-Encoding"),
    ]
    if gzipped:
        return 200, [*headers, ("content-encoding", "gzip")], asset.gzipped
    return 200, headers, asset.body


def _page_response() -> Response:
    return (
        200,
        [
            ("content-type", "text/html; charset=utf-8"),
            # The same URL answers JSON to API clients; and the page names the current
            # assets, so a cached copy must be checked again (it is small).
            ("vary", "Accept"),
            ("cache-control", "no-cache"),
            ("content-security-policy", CONTENT_SECURITY_POLICY),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
        ],
        bundle().page,
    )


@functools.cache
def bundle() -> Bundle:
    """The page and its assets (read from the package and compressed once, on the first
    request for GraphiQL: some tens of milliseconds, once per process)."""
    directory = resources.files("gqlwire").joinpath(ASSET_DIRECTORY)
    assets: dict[str, Asset] = {}
    names: dict[str, str] = {}
    for filename, content_type in _ASSET_FILES:
        body = directory.joinpath(filename).read_bytes()
        stem, _, extension = filename.rpartition(".")
        name = f"{stem}-{hashlib.sha256(body).hexdigest()[:16]}.{extension}"
        # mtime=0: the same bytes every time, whoever compresses them.
        assets[name] = Asset(name, content_type, body, gzip.compress(body, mtime=0))
        names[extension] = name
    return Bundle(_PAGE.format(css=names["css"], js=names["js"]).encode(), assets)


# The asset URLs are relative and hold only a query: the browser keeps the page's own
# path, so the page works wherever the endpoint is mounted. The empty icon keeps the
# browser from asking the server's root for /favicon.ico.
_PAGE: Final = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="?{ASSET_PARAMETER}={{css}}">
<script defer src="?{ASSET_PARAMETER}={{js}}"></script>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<noscript>GraphiQL needs JavaScript. API clients: send GraphQL here with POST.</noscript>
</body>
</html>
"""


# -- Accept and Accept-Encoding --------------------------------------------------------------


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (named, or ``*``, with a q-value above 0)."""
    if not accept_encoding:
        return False
    named: dict[str, float] = dict(_media_range(part) for part in accept_encoding.split(","))
    quality = named.get("gzip", named.get("x-gzip", named.get("*", 0.0)))
    return quality > 0


_HTML: Final = "text/html"
_GRAPHQL_JSON_TYPES: Final = ("application/graphql-response+json", "application/json")


def prefers_html(accept: str | None) -> bool:
    """Whether ``accept`` gives ``text/html`` a higher q-value than both GraphQL JSON types.

    Each type gets the q-value of the most specific range that matches it (RFC 9110
    §12.5.1). A browser's navigation (``text/html,...,*/*;q=0.8``) prefers HTML; a
    missing header, ``*/*`` alone, or any API client's header does not: a tie goes to
    the API.
    """
    if not accept:
        return False
    ranges = [_media_range(part) for part in accept.split(",") if part.strip()]
    html = _quality(ranges, _HTML)
    return html > 0 and all(html > _quality(ranges, media) for media in _GRAPHQL_JSON_TYPES)


def _media_range(text: str) -> tuple[str, float]:
    media, *parameters = text.split(";")
    quality = 1.0
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                quality = 0.0  # a range that cannot be read accepts nothing
            if not 0 <= quality <= 1:
                quality = 0.0
    return media.strip().lower(), quality


def _quality(ranges: list[tuple[str, float]], media: str) -> float:
    kind = media.split("/")[0]
    best_specificity, quality = -1, 0.0
    for candidate, candidate_quality in ranges:
        specificity = {media: 2, f"{kind}/*": 1, "*/*": 0}.get(candidate, -1)
        if specificity > best_specificity:
            best_specificity, quality = specificity, candidate_quality
        elif specificity == best_specificity >= 0:
            quality = max(quality, candidate_quality)
    return quality


__all__ = [
    "ASSET_DIRECTORY",
    "ASSET_PARAMETER",
    "CONTENT_SECURITY_POLICY",
    "Asset",
    "Bundle",
    "accepts_gzip",
    "bundle",
    "graphiql_response",
    "prefers_html",
]
