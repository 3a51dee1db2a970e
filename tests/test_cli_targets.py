"""``gqlwire serve MODULE:ATTR`` with a module that does not import, or an ATTR that is
not what it should be: one clear message, exit status 2, and the user's own file and line.

Each test writes the user's module into a fresh directory and runs the real command there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gqlwire import cli
from tests.harness.servers import server_environment

RAISES = """\
import json


def load_settings():
    return json.loads("{not json")


SETTINGS = load_settings()
"""

SYNTAX_ERROR = """\
from examples.hello import schema

def broken(:
    pass
"""

IMPORTS_WHAT_IS_MISSING = """\
from examples.hello import schema
import gqlwire_no_such_dependency
"""

TARGETS = """\
from starlette.applications import Starlette

from examples.hello import schema
from gqlwire import GraphQLServer

server = GraphQLServer(schema)
web = Starlette()
count = 3


def handler(scope, receive, send):
    return None


class SyncCall:
    def __call__(self, scope, receive, send):
        return None


sync_call = SyncCall()


async def asgi_function(scope, receive, send):
    return None


class AsyncCall:
    async def __call__(self, scope, receive, send):
        return None


async_call = AsyncCall()
"""

NOTHING_TO_SERVE = """\
from gqlwire import GraphQLServer

count = 3
"""


def serve(directory: Path, target: str) -> subprocess.CompletedProcess[str]:
    """``gqlwire serve target`` run in `directory`; it must fail before it listens."""
    return subprocess.run(
        [sys.executable, "-m", "gqlwire", "serve", target, "--port", "0", "--server", "uvicorn"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=directory,
        env=server_environment(),
        stdin=subprocess.DEVNULL,
    )


def module(directory: Path, name: str, source: str) -> Path:
    path = directory / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    return path


def message(result: subprocess.CompletedProcess[str]) -> tuple[str, list[str]]:
    """The one ``gqlwire: error:`` line, and what follows it."""
    assert result.returncode == 2, result
    assert result.stdout == ""
    first, *rest = result.stderr.splitlines()
    assert first.startswith("gqlwire: error: "), result.stderr
    assert not any(line.startswith("gqlwire:") for line in rest), result.stderr
    return first, rest


def test_an_exception_while_importing_shows_the_users_lines(tmp_path: Path) -> None:
    path = module(tmp_path, "settings_app", RAISES)
    first, rest = message(serve(tmp_path, "settings_app:schema"))
    assert first.startswith("gqlwire: error: error while importing 'settings_app': JSONDecodeError")
    assert rest[0] == f'  File "{path}", line 8, in <module>'
    assert rest[1] == "    SETTINGS = load_settings()"
    assert f'  File "{path}", line 5, in load_settings' in rest
    assert '    return json.loads("{not json")' in rest
    assert rest[-1].startswith("json.decoder.JSONDecodeError: Expecting property name")
    assert not any("importlib" in line or "gqlwire" in line for line in rest), rest


def test_a_syntax_error_shows_the_file_line_and_source(tmp_path: Path) -> None:
    path = module(tmp_path, "syntax_app", SYNTAX_ERROR)
    first, rest = message(serve(tmp_path, "syntax_app:schema"))
    assert first == (
        "gqlwire: error: error while importing 'syntax_app': "
        "SyntaxError: invalid syntax (syntax_app.py, line 3)"
    )
    assert rest[:2] == [f'  File "{path}", line 3', "    def broken(:"]
    assert rest[-1] == "SyntaxError: invalid syntax"


def test_a_missing_dependency_shows_the_import_line(tmp_path: Path) -> None:
    path = module(tmp_path, "needs_more", IMPORTS_WHAT_IS_MISSING)
    first, rest = message(serve(tmp_path, "needs_more:schema"))
    assert "No module named 'gqlwire_no_such_dependency'" in first
    assert rest[:2] == [
        f'  File "{path}", line 2, in <module>',
        "    import gqlwire_no_such_dependency",
    ]


def test_a_missing_module_is_one_line(tmp_path: Path) -> None:
    first, rest = message(serve(tmp_path, "not_there:schema"))
    assert first == (
        "gqlwire: error: no module named 'not_there' (in the current directory or on sys.path)"
    )
    assert rest == []


def test_a_misnamed_attribute_lists_what_could_be_served(tmp_path: Path) -> None:
    module(tmp_path, "targets", TARGETS)
    first, rest = message(serve(tmp_path, "targets:shema"))
    assert first == (
        "gqlwire: error: 'targets:shema': module 'targets' has no attribute 'shema'; it has "
        "schema (a GraphQL schema), server (a GraphQLServer), web (an ASGI application), "
        "asgi_function (an ASGI application), async_call (an ASGI application)"
    )
    assert rest == []


def test_a_misnamed_attribute_in_a_module_with_nothing_to_serve(tmp_path: Path) -> None:
    module(tmp_path, "nothing_here", NOTHING_TO_SERVE)
    first, _ = message(serve(tmp_path, "nothing_here:app"))
    assert first.endswith(
        "has no attribute 'app'; it has nothing that can be served (a GraphQL schema, "
        "a GraphQLServer, an ASGI application or an aiohttp Application)"
    )


@pytest.mark.parametrize(
    ("attribute", "why"),
    [
        ("handler", "the function handler takes three parameters but is not a coroutine function"),
        ("sync_call", "a SyncCall's `__call__` takes three parameters but is not async"),
    ],
)
def test_a_plain_three_parameter_callable_is_not_an_asgi_app(
    tmp_path: Path, attribute: str, why: str
) -> None:
    module(tmp_path, "targets", TARGETS)
    first, rest = message(serve(tmp_path, f"targets:{attribute}"))
    assert first == (
        f"gqlwire: error: 'targets:{attribute}' is not an ASGI application: {why} (an ASGI "
        "application is `async def app(scope, receive, send)`, or an object whose "
        "`__call__` is one)"
    )
    assert rest == []


def test_other_objects_say_what_they_are(tmp_path: Path) -> None:
    module(tmp_path, "targets", TARGETS)
    first, _ = message(serve(tmp_path, "targets:count"))
    assert first == (
        "gqlwire: error: 'targets:count' is not a GraphQL schema, a GraphQLServer, an ASGI "
        "application or an aiohttp Application (it is an int)"
    )


@pytest.mark.parametrize("attribute", ["web", "asgi_function", "async_call"])
def test_coroutine_functions_and_async_callables_are_served_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, attribute: str
) -> None:
    module(tmp_path, "served_targets", TARGETS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "served_targets", raising=False)
    built = cli.build_app(cli.ServeSpec(f"served_targets:{attribute}"))
    assert built.server is None
    assert built.own_app is getattr(sys.modules["served_targets"], attribute)
