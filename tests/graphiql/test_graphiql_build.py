"""The committed GraphiQL assets are what ``frontend/graphiql``'s lock file builds.

The full check (``scripts/build_graphiql.py --check``: ``npm ci`` of the build project
in a scratch directory, an esbuild build, a byte comparison) needs the npm registry and
takes some seconds: it runs under CI (``CI=true``) and wherever
``GQLWIRE_GRAPHIQL_BUILD_CHECK=1`` is set, and skips elsewhere, saying so. The checks of
the build project's own files always run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.harness.servers import REPO_ROOT

PROJECT = REPO_ROOT / "frontend" / "graphiql"
SCRIPT = REPO_ROOT / "scripts" / "build_graphiql.py"
ENABLE = "GQLWIRE_GRAPHIQL_BUILD_CHECK"


def _wanted() -> bool:
    return any(os.environ.get(name, "").lower() in ("1", "true", "yes") for name in ("CI", ENABLE))


def test_build_project_pins_exact_versions() -> None:
    package = json.loads((PROJECT / "package.json").read_text())
    lock = json.loads((PROJECT / "package-lock.json").read_text())
    wanted = {"graphiql", "@graphiql/toolkit", "react", "react-dom", "graphql", "graphql-ws"}
    dependencies = package["devDependencies"]
    assert wanted | {"esbuild"} <= set(dependencies)
    for name, version in dependencies.items():
        assert version[0].isdigit() and not any(c in version for c in "^~<>*| "), (name, version)
        # The lock file holds the very version package.json names.
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert lock["packages"][""]["devDependencies"] == dependencies


@pytest.mark.timeout(900)
def test_committed_assets_are_what_the_lock_file_builds() -> None:
    if not _wanted():
        pytest.skip(f"slow (npm ci of frontend/graphiql): set {ENABLE}=1 to run it")
    if shutil.which("npm") is None:
        pytest.fail("npm is not on the PATH")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        capture_output=True,
        text=True,
        timeout=850,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "exactly what the lock file builds" in result.stdout
