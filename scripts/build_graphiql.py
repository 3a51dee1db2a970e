"""Build the GraphiQL assets gqlwire ships, or check that the committed ones are what the
lock file builds.

    python3 scripts/build_graphiql.py            # npm ci && npm run build in frontend/graphiql
    python3 scripts/build_graphiql.py --check    # build in a scratch copy, compare bytes

The build project is ``frontend/graphiql/``: its ``package-lock.json`` pins GraphiQL,
React, graphql, graphql-ws, the toolkit and esbuild, and ``build.mjs`` bundles them,
minified, into ``src/gqlwire/graphiql_assets/`` (``graphiql.js``, ``graphiql.css``).
esbuild writes the same bytes for the same inputs, so ``--check`` builds from a clean
copy of the build project (its own ``npm ci``, never the working tree's
``node_modules``) and fails unless every asset is byte-identical to the committed one.

Only the standard library is used; ``npm`` must be on the PATH.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "frontend" / "graphiql"
ASSETS = REPO / "src" / "gqlwire" / "graphiql_assets"
PROJECT_FILES = ("package.json", "package-lock.json", "build.mjs", "src")
"""What the build reads: a scratch copy of these builds exactly what the repository does."""
NPM_TIMEOUT = 600


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="build in a scratch directory and compare with the committed assets",
    )
    options = parser.parse_args()
    if options.check:
        return check()
    npm(["ci", "--no-audit", "--no-fund"], PROJECT)
    npm(["run", "build"], PROJECT)
    for path in sorted(ASSETS.iterdir()):
        print(f"build_graphiql: {path.relative_to(REPO)}: {path.stat().st_size} bytes")
    return 0


def check() -> int:
    """0 when a clean build reproduces the committed assets byte for byte."""
    with tempfile.TemporaryDirectory(prefix="gqlwire-graphiql-") as scratch:
        project = Path(scratch) / "graphiql"
        project.mkdir()
        for name in PROJECT_FILES:
            source = PROJECT / name
            if source.is_dir():
                shutil.copytree(source, project / name)
            else:
                shutil.copy2(source, project / name)
        built = Path(scratch) / "assets"
        npm(["ci", "--no-audit", "--no-fund"], project)
        subprocess.run(["node", "build.mjs", str(built)], cwd=project, check=True)
        differences = compare(built, ASSETS)
    for line in differences:
        print(f"build_graphiql: {line}")
    if differences:
        print(
            "build_graphiql: the committed assets are not what frontend/graphiql builds: "
            "run python3 scripts/build_graphiql.py and commit the result"
        )
        return 1
    print("build_graphiql: the committed assets are exactly what the lock file builds")
    return 0


def compare(built: Path, committed: Path) -> list[str]:
    """What differs between two asset directories, one line per file."""
    names = {path.name for path in built.iterdir()} | {path.name for path in committed.iterdir()}
    differences = []
    for name in sorted(names):
        new, old = built / name, committed / name
        if not old.exists():
            differences.append(f"{name}: built but not committed")
        elif not new.exists():
            differences.append(f"{name}: committed but not built")
        elif new.read_bytes() != old.read_bytes():
            differences.append(
                f"{name}: differs ({new.stat().st_size} bytes built, "
                f"{old.stat().st_size} committed)"
            )
    return differences


def npm(arguments: list[str], cwd: Path) -> None:
    command = ["npm", *arguments]
    print("$ " + " ".join(command), flush=True)
    subprocess.run(command, cwd=cwd, check=True, timeout=NPM_TIMEOUT)


if __name__ == "__main__":
    sys.exit(main())
