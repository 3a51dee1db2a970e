"""Run gqlwire's test matrix: what users install, on every Python and graphql-core we claim.

    python3 scripts/test_matrix.py                  # every cell
    python3 scripts/test_matrix.py --cells main,wheel
    GQLWIRE_TEST_CELLS=graphql-core-3.2 python3 scripts/test_matrix.py

Each cell has a virtualenv of its own under ``.venvs/`` made from the project's extras with
the newest releases they allow (so the suite sees what a new user's ``pip install`` gets,
not what an old environment happens to hold), then runs its share of the suite:

- ``main``: the whole suite, on the default ``python3`` with the ``dev`` extra, which
  resolves the newest graphql-core (3.3) and Strawberry. It runs ``npm ci`` for the
  interop clients first, and installs Debian's ``chromium`` for the GraphiQL browser test
  and ``wrk`` for the HTTP benchmark's smoke test when they are missing and this is root
  or CI (``apt-get install -y chromium wrk``).
- ``graphql-core-3.2``: ``dev`` plus ``graphene``, whose pin holds graphql-core at 3.2:
  the protocol, server (both subprotocols over real servers), HTTP, response-stream and
  schema-library tests (Graphene included), on one server per adapter (aiohttp and
  uvicorn): the graphql-core version changes execution, not what a server carries.
- ``python-3.12`` and ``python-3.13``: the core suite on each further Python we claim.
  These and the graphql-core 3.2 cell run the protocol machines' hypothesis tests with
  fewer examples than ``main`` (``GQLWIRE_TEST_EXAMPLES``).
- ``wheel``: the README's quick start exactly as printed, in a clean copy of the
  repository (its ``pip install .`` builds the wheel and installs it, with no extras and
  the newest dependencies, into a fresh ``.venv``), plus a look inside the wheel.
- ``wheel-3.12`` and ``wheel-3.13``: the same quick start with ``python3`` being that
  Python (a directory holding only that link leads the PATH).

Tests that need a broker use the machine's: Redis at ``REDIS_URL`` (default
``redis://127.0.0.1:6379/0``) and NATS with JetStream at ``NATS_URL`` (default
``nats://127.0.0.1:4222``); the outage tests start ``redis-server`` and ``nats-server``
processes of their own. Under ``CI=true`` a missing server or binary fails those tests;
elsewhere they skip, saying how to start it.

A virtualenv is made anew when it is missing or was made from another ``pyproject.toml``
or cell definition. Under ``CI=true`` a Python interpreter that cannot be found fails its
cell; elsewhere the cell is skipped with the reason. The last line sums up every cell as
``matrix: N passed, N failed`` (pytest's counts; the quick start counts as one test).
Only the standard library is used: this runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENVS = REPO / ".venvs"

CORE_TESTS = (
    "tests/protocol",
    "tests/server",
    "tests/test_http.py",
    "tests/test_response_stream.py",
    "tests/test_schema_libraries.py",
)


FEWER_EXAMPLES = (("GQLWIRE_TEST_EXAMPLES", "50"),)
"""The protocol machines' hypothesis tests are pure code that neither the Python version
nor graphql-core changes much: the main cell runs 200 sequences per machine, the other
cells this many."""


@dataclass(frozen=True)
class Cell:
    name: str
    python: str
    """``python3`` (the default interpreter) or a version such as ``3.12``."""
    extras: str = "dev"
    pytest_args: tuple[str, ...] = ()
    graphql_core: str = r"3\.3\."
    """A regular expression the installed graphql-core version must match."""
    npm: bool = False
    browser: bool = False
    """Whether the cell runs the tests that need Debian's packages: the GraphiQL browser
    test (chromium) and the HTTP benchmark's smoke test (wrk)."""
    environment: tuple[tuple[str, str], ...] = ()
    """Variables set for the cell's pytest run."""
    description: str = ""


CELLS = (
    Cell(
        "main",
        "python3",
        pytest_args=(),
        npm=True,
        browser=True,
        description="the whole suite, newest dependencies",
    ),
    Cell(
        "graphql-core-3.2",
        "python3",
        extras="dev,graphene",
        # graphql-core does the parsing and execution, which the server only carries:
        # one server per adapter here, every server in the main cell.
        pytest_args=(*CORE_TESTS, "--servers", "aiohttp,uvicorn"),
        environment=FEWER_EXAMPLES,
        graphql_core=r"3\.2\.",
        description="graphql-core 3.2 (held there by Graphene)",
    ),
    Cell(
        "python-3.12",
        "3.12",
        pytest_args=(*CORE_TESTS, "--servers", "aiohttp,uvicorn,hypercorn"),
        environment=FEWER_EXAMPLES,
        description="core suite on Python 3.12",
    ),
    Cell(
        "python-3.13",
        "3.13",
        pytest_args=(*CORE_TESTS, "--servers", "aiohttp,uvicorn,granian"),
        environment=FEWER_EXAMPLES,
        description="core suite on Python 3.13",
    ),
    Cell("wheel", "python3", extras="", description="README quick start from a clean copy"),
    Cell("wheel-3.12", "3.12", extras="", description="README quick start on Python 3.12"),
    Cell("wheel-3.13", "3.13", extras="", description="README quick start on Python 3.13"),
)


@dataclass
class Outcome:
    cell: str
    status: str  # "ok", "failed", "skipped"
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    detail: str = ""
    versions: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cells",
        default=os.environ.get("GQLWIRE_TEST_CELLS", ""),
        help="comma-separated cells to run (default: all): "
        + ", ".join(cell.name for cell in CELLS),
    )
    parser.add_argument("pytest_args", nargs="*", help="extra arguments for every pytest run")
    options = parser.parse_args()
    chosen = [name.strip() for name in options.cells.split(",") if name.strip()]
    unknown = set(chosen) - {cell.name for cell in CELLS}
    if unknown:
        parser.error(f"unknown cells: {', '.join(sorted(unknown))}")
    cells = [cell for cell in CELLS if not chosen or cell.name in chosen]

    outcomes = []
    for cell in cells:
        banner(f"cell {cell.name}: {cell.description}")
        started = time.monotonic()
        outcome = run_cell(cell, options.pytest_args)
        outcome.seconds = time.monotonic() - started
        outcomes.append(outcome)
    return report(outcomes)


def run_cell(cell: Cell, extra_args: list[str]) -> Outcome:
    python = find_python(cell.python)
    if python is None:
        reason = f"Python {cell.python} not found (install it, e.g. with pyenv)"
        if ci():
            return Outcome(cell.name, "failed", failed=1, detail=reason)
        return Outcome(cell.name, "skipped", detail=reason)
    if cell.name.startswith("wheel"):
        return run_quickstart(cell.name, python)
    venv = prepare_venv(cell, python)
    versions = installed_versions(venv)
    print(f"[{cell.name}] {versions}", flush=True)
    graphql_core = re.search(r"graphql-core (\S+)", versions)
    if graphql_core is None or not re.match(cell.graphql_core, graphql_core.group(1)):
        return Outcome(
            cell.name,
            "failed",
            failed=1,
            versions=versions,
            detail=f"expected graphql-core matching {cell.graphql_core!r}",
        )
    if cell.npm:
        run(["npm", "ci", "--no-audit", "--no-fund"])
    if cell.browser:
        ensure_chromium()
        ensure_wrk()
        ensure_valgrind()
    command = [str(venv / "bin" / "python"), "-m", "pytest", *cell.pytest_args, *extra_args]
    print("$ " + " ".join(command), flush=True)
    output = run_tee(command, {**os.environ, **dict(cell.environment)})
    counts = pytest_counts(output.text)
    status = "ok" if output.returncode == 0 else "failed"
    if output.returncode != 0 and counts["failed"] == 0:
        counts["failed"] = 1  # pytest itself failed (collection error, no tests...)
    return Outcome(
        cell.name,
        status,
        passed=counts["passed"],
        failed=counts["failed"],
        skipped=counts["skipped"],
        versions=versions,
        detail=output.summary,
    )


# -- virtualenvs ---------------------------------------------------------------------------


def find_python(version: str) -> str | None:
    """An interpreter that runs: ``python3`` itself, or ``python3.X`` on the PATH, or
    one that pyenv installed."""
    names = [version] if version == "python3" else [f"python{version}"]
    for name in names:
        path = shutil.which(name)
        if path and works(path):
            return path
    if version == "python3":
        return None
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    for candidate in sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}")):
        if works(candidate):
            return candidate
    return None


def works(python: str) -> bool:
    try:
        probe = subprocess.run([python, "-c", "pass"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def prepare_venv(cell: Cell, python: str) -> Path:
    """The cell's virtualenv, made anew unless it was made from this very definition."""
    venv = VENVS / cell.name
    stamp = hashlib.sha256(
        (REPO / "pyproject.toml").read_bytes()
        + repr((cell.extras, python, python_version(python))).encode()
    ).hexdigest()
    stamp_file = venv / ".gqlwire-cell"
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        print(f"[{cell.name}] reusing {venv.relative_to(REPO)}", flush=True)
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    run([python, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    run([*pip, "--upgrade", "pip"])
    target = f".[{cell.extras}]" if cell.extras else "."
    run([*pip, "-e", target], cwd=REPO)
    stamp_file.write_text(stamp)
    return venv


def python_version(python: str) -> str:
    result = subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def installed_versions(venv: Path) -> str:
    """``Python X``, then graphql-core and the schema libraries present."""
    script = (
        "import sys, importlib.metadata as m\n"
        "parts = ['Python ' + sys.version.split()[0]]\n"
        "for name in ('graphql-core', 'strawberry-graphql', 'ariadne', 'graphene', 'aiohttp'):\n"
        "    try:\n"
        "        parts.append(name + ' ' + m.version(name))\n"
        "    except m.PackageNotFoundError:\n"
        "        pass\n"
        "print(', '.join(parts))\n"
    )
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", script], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


# -- the browser ---------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's chromium, which Playwright drives in the GraphiQL browser test (Playwright's
own browser downloads are never used)."""


def ensure_chromium() -> None:
    """Install Debian's ``chromium`` when it is missing, as root or under CI; elsewhere
    the browser test skips and says how to install it (under CI it fails instead)."""
    ensure_debian_package("chromium", CHROMIUM, "the GraphiQL browser test")


def ensure_wrk() -> None:
    """Debian's ``wrk``, the HTTP benchmark's load generator (its smoke test needs it)."""
    ensure_debian_package("wrk", Path("/usr/bin/wrk"), "the HTTP benchmark's smoke test")


def ensure_valgrind() -> None:
    """Debian's ``valgrind``: the instruction counts' smoke test runs callgrind."""
    ensure_debian_package(
        "valgrind", Path("/usr/bin/valgrind"), "the instruction counts' smoke test"
    )


def ensure_debian_package(package: str, binary: Path, needed_by: str) -> None:
    """Install Debian's ``package`` when ``binary`` is missing, as root or under CI;
    elsewhere what needs it skips and says how to install it (under CI it fails)."""
    if binary.exists():
        return
    if not (ci() or os.geteuid() == 0) or shutil.which("apt-get") is None:
        print(
            f"{binary} is missing and this is not root: {needed_by} will skip "
            f"(install it with: apt-get install -y {package})",
            flush=True,
        )
        return
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        print("$ " + " ".join(command), flush=True)
        # A failed install is not fatal here: what needs it then reports it (and fails
        # under CI), next to every other result.
        if subprocess.run(command, env=environment).returncode != 0:
            print(f"could not install {package} ({' '.join(command)} failed)", flush=True)
            return


# -- the README's quick start ----------------------------------------------------------------


def run_quickstart(name: str, python: str) -> Outcome:
    """The README's quick start, as printed, in a clean copy of the repository, with
    ``python3`` (the README's first word) being ``python``: the PATH it runs with starts
    with a directory holding only that link."""
    with tempfile.TemporaryDirectory(prefix="gqlwire-python3-") as bin_dir:
        Path(bin_dir, "python3").symlink_to(python)
        environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        command = [python, str(REPO / "scripts" / "check_quickstart.py")]
        print(f"$ PATH={bin_dir}:$PATH " + " ".join(command), flush=True)
        output = run_tee(command, environment)
    versions = ""
    match = re.search(r"^quickstart: installed (.*)$", output.text, re.MULTILINE)
    if match:
        versions = match.group(1)
    if output.returncode == 0:
        return Outcome(name, "ok", passed=1, versions=versions, detail="quick start as printed")
    return Outcome(name, "failed", failed=1, versions=versions, detail=output.summary)


# -- running and reporting -----------------------------------------------------------------


@dataclass
class Output:
    returncode: int
    text: str

    @property
    def summary(self) -> str:
        lines = [line for line in self.text.splitlines() if line.strip()]
        return lines[-1].strip("= ") if lines else f"exit status {self.returncode}"


def run(command: list[str], cwd: Path | None = None) -> None:
    print("$ " + " ".join(command), flush=True)
    subprocess.run(command, cwd=cwd or REPO, check=True)


def run_tee(command: list[str], env: dict[str, str] | None = None) -> Output:
    """Run ``command``, showing its output as it comes, and keep that output."""
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    chunks = []
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        chunks.append(line)
    return Output(process.wait(), "".join(chunks))


def pytest_counts(text: str) -> dict[str, int]:
    """passed/failed/skipped from pytest's closing line (errors count as failed)."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    closing = [line for line in text.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    if not closing:
        return counts
    for number, word in re.findall(r"(\d+) (\w+)", closing[-1]):
        if word in ("passed", "xpassed"):
            counts["passed"] += int(number)
        elif word in ("failed", "error", "errors"):
            counts["failed"] += int(number)
        elif word in ("skipped", "xfailed", "deselected"):
            counts["skipped"] += int(number)
    return counts


def report(outcomes: list[Outcome]) -> int:
    banner("test matrix")
    width = max(len(outcome.cell) for outcome in outcomes)
    for outcome in outcomes:
        print(
            f"{outcome.cell:<{width}}  {outcome.status:<7}  {outcome.passed:>5} passed "
            f"{outcome.failed:>3} failed {outcome.skipped:>4} skipped  "
            f"{outcome.seconds:>5.0f} s  {outcome.versions}"
        )
        if outcome.status != "ok":
            print(f"{'':<{width}}  -> {outcome.detail}")
    passed = sum(outcome.passed for outcome in outcomes)
    failed = sum(outcome.failed for outcome in outcomes)
    skipped = sum(outcome.skipped for outcome in outcomes)
    ok = all(outcome.status != "failed" for outcome in outcomes)
    print(f"matrix: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return 0 if ok and failed == 0 else 1


def banner(text: str) -> None:
    print(f"\n{'=' * 20} {text} {'=' * 20}", flush=True)


def ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


if __name__ == "__main__":
    sys.exit(main())
