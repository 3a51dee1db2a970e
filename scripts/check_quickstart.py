"""Run the README's quick start exactly as printed, as a new user would.

The commands are read from the README (the examples marked ``quickstart`` and
``quickstart-try``) and run with ``bash`` in a clean copy of the repository's tracked
files, so the quick start's own ``pip install .`` builds the wheel and installs it, with
no extras and the newest dependencies, into a fresh ``.venv`` that is never activated.
The server command runs in the background until it prints its listening line; each
command of ``quickstart-try`` must then print exactly what the README shows; Ctrl-C
(SIGINT) must stop the server with status 0 and no traceback. The wheel itself is also
built and checked: it holds the package, its type marker and the GraphiQL assets, and
no tests; and a browser's GET of the quick start's URL gets the GraphiQL page and its
assets from the installed wheel.

Only the standard library is used, and every wait is bounded.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.docs.readme import console, example  # noqa: E402

INSTALL_TIMEOUT = 600  # the first command creates a venv and installs from the index
COMMAND_TIMEOUT = 60
LISTENING = "gqlwire: serving "


class QuickstartFailed(Exception):
    pass


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="gqlwire-quickstart-") as scratch:
        checkout = Path(scratch) / "gqlwire"
        copy_tracked_files(checkout)
        try:
            check(checkout)
        except QuickstartFailed as failure:
            print(f"quickstart: FAILED: {failure}", flush=True)
            return 1
    print("quickstart: the README's quick start works as printed", flush=True)
    return 0


def copy_tracked_files(destination: Path) -> None:
    """The files git tracks, as they are in the working tree (a clean clone, uncommitted
    edits included, nothing untracked: no virtualenv, no build output)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listing.split("\0")):
        source = REPO / name
        if not source.is_file():
            continue  # deleted in the working tree
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
        target.chmod(source.stat().st_mode & 0o777)


def check(checkout: Path) -> None:
    serve_command = example("quickstart").strip()
    if "\n" in serve_command:
        raise QuickstartFailed("the quickstart example should be one command line")
    port = 8000
    if port_in_use(port):
        raise QuickstartFailed(f"port {port}, which the quick start uses, is taken")
    print(f"quickstart: $ {serve_command}", flush=True)
    log_path = checkout / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            ["bash", "-c", serve_command],
            cwd=checkout,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_listening(server, log_path)
        venv_python = checkout / ".venv" / "bin" / "python"
        print(f"quickstart: installed {installed(venv_python)}", flush=True)
        check_no_extras(venv_python)
        check_wheel(venv_python, checkout)
        check_graphiql(port)
        for step in console("quickstart-try"):
            run_step(step.command, step.output, checkout)
        stop_with_ctrl_c(server, log_path)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for_listening(server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + INSTALL_TIMEOUT
    while LISTENING not in log_path.read_text(errors="replace"):
        if server.poll() is not None:
            raise QuickstartFailed(
                f"the server command exited with {server.returncode}:\n{log_path.read_text()}"
            )
        if time.monotonic() > deadline:
            raise QuickstartFailed(f"no listening line in {INSTALL_TIMEOUT} s")
        time.sleep(0.2)
    line = next(line for line in log_path.read_text().splitlines() if LISTENING in line)
    print(f"quickstart: {line}", flush=True)


def installed(venv_python: Path) -> str:
    script = (
        "import sys, importlib.metadata as m\n"
        "print(', '.join(['Python ' + sys.version.split()[0]] + "
        "[n + ' ' + m.version(n) for n in ('gqlwire', 'graphql-core', 'aiohttp', 'orjson')]))"
    )
    return subprocess.run(
        [str(venv_python), "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()


def check_no_extras(venv_python: Path) -> None:
    """The quick start installs no extra: no ASGI server, no Redis or NATS client."""
    script = (
        "import importlib.util as u\n"
        "print(' '.join(n for n in ('uvicorn', 'hypercorn', 'daphne', 'granian', 'redis', 'nats', "
        "'strawberry', 'ariadne') if u.find_spec(n)))"
    )
    present = subprocess.run(
        [str(venv_python), "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()
    if present:
        raise QuickstartFailed(f"the plain install pulled in optional packages: {present}")


def check_wheel(venv_python: Path, checkout: Path) -> None:
    """Build the wheel the install used and look inside."""
    dist = checkout / "dist"
    subprocess.run(
        [str(venv_python), "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), "."],
        cwd=checkout,
        check=True,
        timeout=INSTALL_TIMEOUT,
    )
    wheels = sorted(dist.glob("gqlwire-*.whl"))
    if len(wheels) != 1:
        raise QuickstartFailed(f"expected one wheel, found {[w.name for w in wheels]}")
    names = zipfile.ZipFile(wheels[0]).namelist()
    required = [
        "gqlwire/__init__.py",
        "gqlwire/py.typed",
        "gqlwire/protocol/__init__.py",
        # GraphiQL works offline: its built assets ship inside the wheel.
        "gqlwire/graphiql_assets/graphiql.js",
        "gqlwire/graphiql_assets/graphiql.css",
    ]
    missing = [name for name in required if name not in names]
    if missing:
        raise QuickstartFailed(f"{wheels[0].name} lacks {missing}")
    if not any(name.endswith(".dist-info/licenses/LICENSE") for name in names):
        raise QuickstartFailed(f"{wheels[0].name} carries no LICENSE")
    stray = [name for name in names if name.startswith(("tests/", "benchmarks/", "examples/"))]
    if stray:
        raise QuickstartFailed(f"{wheels[0].name} carries files that are not the library: {stray}")
    print(
        f"quickstart: {wheels[0].name}: {len(names)} files, package, GraphiQL assets and LICENSE",
        flush=True,
    )


def check_graphiql(port: int) -> None:
    """A browser opening the quick start's URL gets GraphiQL, and its assets come from
    the installed wheel through the same URL (nothing from elsewhere)."""
    url = f"http://127.0.0.1:{port}/graphql"
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    page = fetch(url, accept)
    names = re.findall(r'(?:href|src)="\?graphiql=([^"]+)"', page.decode())
    if len(names) != 2:
        raise QuickstartFailed(f"a browser at {url} did not get the GraphiQL page: {page[:200]!r}")
    sizes = [len(fetch(f"{url}?graphiql={name}", "*/*")) for name in names]
    print(f"quickstart: GraphiQL at {url}: page and assets {sizes} bytes", flush=True)


def fetch(url: str, accept: str) -> bytes:
    request = urllib.request.Request(url, headers={"accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=COMMAND_TIMEOUT) as response:
            body: bytes = response.read()
    except OSError as error:
        raise QuickstartFailed(f"GET {url} failed: {error}") from error
    return body


def run_step(command: str, expected: list[str], checkout: Path) -> None:
    print(f"quickstart: $ {command}", flush=True)
    try:
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=checkout,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as timeout:
        raise QuickstartFailed(f"{command!r} did not finish in {COMMAND_TIMEOUT} s") from timeout
    printed = result.stdout.splitlines()
    for line in printed:
        print(f"quickstart:   {line}", flush=True)
    if result.returncode != 0 or printed != expected:
        raise QuickstartFailed(
            f"{command!r} exited with {result.returncode} and printed {printed!r}, "
            f"the README shows {expected!r}; stderr: {result.stderr!r}"
        )


def stop_with_ctrl_c(server: subprocess.Popen[bytes], log_path: Path) -> None:
    # bash runs the last command of a && list in place of itself or as its child;
    # Ctrl-C reaches the whole foreground process group, and so does this.
    os.killpg(server.pid, signal.SIGINT)
    try:
        status = server.wait(15)
    except subprocess.TimeoutExpired as timeout:
        raise QuickstartFailed("the server did not stop within 15 s of Ctrl-C") from timeout
    log = log_path.read_text(errors="replace")
    if status != 0 or "Traceback" in log:
        raise QuickstartFailed(f"Ctrl-C ended the server with status {status}:\n{log}")
    print("quickstart: Ctrl-C stopped the server with status 0", flush=True)


if __name__ == "__main__":
    sys.exit(main())
