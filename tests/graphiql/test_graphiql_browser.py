"""GraphiQL in a real browser, over every server: headless Chromium (Debian's
``chromium``, driven by Playwright) opens the endpoint, runs a query over HTTP and a
subscription over graphql-transport-ws, sees each event arrive in the result pane, and
keeps a screenshot. Every request the page makes must go to the server's own origin:
that is what "offline" means, checked.

Screenshots go to ``$GQLWIRE_TEST_ARTIFACTS`` when set, to ``test-artifacts/`` (at the
repository root, git-ignored) under CI, and to pytest's ``tmp_path`` otherwise.

Without ``/usr/bin/chromium`` or without Playwright the test skips, saying how to install
them; under ``CI=true`` it fails instead (``scripts/test_matrix.py`` installs Chromium).
Playwright never downloads a browser here: it launches the system's.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import httpx
import pytest

from tests.harness.servers import REPO_ROOT, ServerPool, ServerProcess, find_tracebacks

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

APP = "tests.apps.graphiql_app:app"
# A browser's start and a page of 1.8 MB of assets on a loaded machine: more room than
# the suite's default, each wait inside still bounded by TIMEOUT_MS.
pytestmark = pytest.mark.timeout(180)
CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 20_000
"""For each wait in the page: a bound, not a measure (the page waits on events)."""


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> NoReturn:
    if _ci():
        pytest.fail(f"{reason} (required under CI)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        _unavailable(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def proc(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(APP, server_name)


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    configured = os.environ.get("GQLWIRE_TEST_ARTIFACTS")
    if configured:
        directory = Path(configured)
    elif _ci():
        directory = REPO_ROOT / "test-artifacts"
    else:
        directory = tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    return directory


class PageRecord:
    """What the page asked for and complained about."""

    def __init__(self, page: Page) -> None:
        self.requests: list[str] = []
        self.sockets: list[str] = []
        self.problems: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("websocket", lambda socket: self.sockets.append(socket.url))
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                self.problems.append(f"console {message.type}: {message.text}")
                if message.type in ("error", "warning")
                else None
            ),
        )


@contextlib.contextmanager
def browser_page(
    browser: Browser, failure_screenshot: Path, **options: Any
) -> Iterator[tuple[Page, PageRecord]]:
    """A new page and its record, closed at the end. On a failure inside, a screenshot
    of the page as it was is kept and the error says what the page reported (a wait
    that times out says nothing of why by itself)."""
    page = browser.new_page(**options)
    record = PageRecord(page)
    try:
        yield page, record
    except Exception as error:
        page.screenshot(path=str(failure_screenshot), full_page=True)
        raise AssertionError(
            f"{error}\npage problems: {record.problems}\nrequests: {record.requests}\n"
            f"sockets: {record.sockets}\nscreenshot: {failure_screenshot}"
        ) from error
    finally:
        page.close()


def set_query(page: Page, query: str, operation_name: str) -> None:
    """Put ``query`` in GraphiQL's query editor, as a paste would, and wait until
    GraphiQL has read it (it parses the editor's text 100 ms after a change, and decides
    from that parse whether an operation goes over HTTP or the socket)."""
    # The query editor is CodeMirror 5, which keeps its instance on its element.
    page.eval_on_selector(
        ".graphiql-query-editor .CodeMirror",
        "(element, text) => element.CodeMirror.setValue(text)",
        query,
    )
    page.wait_for_function(
        """name => {
            const editor = document.querySelector(".graphiql-query-editor .CodeMirror");
            return editor.CodeMirror.operationName === name && !!editor.CodeMirror.documentAST;
        }""",
        arg=operation_name,
        timeout=TIMEOUT_MS,
    )


def result(page: Page) -> Any:
    """The result pane's JSON, once it holds some."""
    text = page.eval_on_selector(
        ".result-window .CodeMirror", "element => element.CodeMirror.getValue()"
    )
    return json.loads(text) if text.strip() else None


def wait_for_result(page: Page, expected: Any) -> None:
    page.wait_for_function(
        """expected => {
            const editor = document.querySelector(".result-window .CodeMirror");
            if (!editor) return false;
            try { return JSON.stringify(JSON.parse(editor.CodeMirror.getValue())) === expected; }
            catch { return false; }
        }""",
        arg=json.dumps(expected, separators=(",", ":")),
        timeout=TIMEOUT_MS,
    )


def test_query_and_subscription_in_graphiql(
    browser: Browser, proc: ServerProcess, server_name: str, artifacts: Path
) -> None:
    offset = proc.log_offset()
    origin = proc.http_url("")
    failed = artifacts / f"graphiql-{server_name}-failed.png"
    with browser_page(browser, failed, viewport={"width": 1280, "height": 800}) as (page, record):
        page.goto(proc.http_url("/graphql"), timeout=TIMEOUT_MS)
        page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=TIMEOUT_MS)

        set_query(page, 'query Greeting { hello(name: "browser") }', "Greeting")
        page.click(".graphiql-execute-button")
        wait_for_result(page, {"data": {"hello": "Hello, browser!"}})

        token = f"graphiql-{server_name}"
        set_query(
            page, f'subscription Countdown {{ countdown(from: 3, token: "{token}") }}', "Countdown"
        )
        page.click(".graphiql-execute-button")
        # Each value after the first is yielded only once released: the pane must show
        # every one of them, in order, as it arrives over the socket.
        with httpx.Client(base_url=origin, timeout=10) as control:
            for value in (3, 2, 1, 0):
                if value != 3:
                    control.post("/_release", params={"token": token}).raise_for_status()
                wait_for_result(page, {"data": {"countdown": value}})
        page.screenshot(path=str(artifacts / f"graphiql-{server_name}.png"), full_page=True)

    own = urlsplit(origin).netloc
    elsewhere = [url for url in record.requests + record.sockets if urlsplit(url).netloc != own]
    assert not elsewhere, f"the page reached other origins: {elsewhere}"
    assert record.sockets == [proc.ws_url("/graphql")], record.sockets
    # The page, its stylesheet and script, then the POSTs (introspection, the query).
    assert record.requests[0] == proc.http_url("/graphql")
    assert sum("?graphiql=graphiql-" in url for url in record.requests) == 2, record.requests
    # A Content-Security-Policy violation is reported on the console: there is none.
    assert not record.problems, record.problems
    log = proc.log(offset)
    assert not proc.error_lines(offset) + find_tracebacks(log), log


def test_page_at_another_mount_path(
    browser: Browser, proc: ServerProcess, server_name: str, artifacts: Path
) -> None:
    failed = artifacts / f"graphiql-mounted-{server_name}-failed.png"
    with browser_page(browser, failed) as (page, record):
        page.goto(proc.http_url("/deeply/mounted/api"), timeout=TIMEOUT_MS)
        page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=TIMEOUT_MS)
        set_query(page, "query Mounted { hello }", "Mounted")
        page.click(".graphiql-execute-button")
        wait_for_result(page, {"data": {"hello": "Hello, world!"}})
        assert result(page) == {"data": {"hello": "Hello, world!"}}

    paths = {urlsplit(url).path for url in record.requests}
    assert paths == {"/deeply/mounted/api"}, record.requests
    assert not record.problems, record.problems
