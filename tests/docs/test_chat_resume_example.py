"""The README's resumable chat, run as printed: ``examples/chat_resume.py`` served with two
workers; a listener stopped mid-conversation and started again prints every message
exactly once, in order.

The listener's first line is its own arrival; once it is printed, the README's ``say``
commands post its two messages, and the conversation goes on with the same command and
other texts (the test's only change, besides the port), so that every message is told
apart. The listener is stopped with Ctrl-C (SIGINT) as a user would, while messages keep
coming, and must exit with status 0; started again, it must not announce itself again.

Needs Redis at ``REDIS_URL``: skipped when none answers, a failure under ``CI=true``. The
example's streams get a prefix of this test's own (``CHAT_STREAM_PREFIX``), deleted after.
"""

from __future__ import annotations

import asyncio
import shlex
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.commands import localized, run_step, serve_command, shell_environment
from tests.docs.readme import Command, console
from tests.harness.redis_server import delete_keys, redis_url_or_skip
from tests.harness.servers import REPO_ROOT, ServerProcess, assert_clean_log, start_server
from tests.harness.waiting import wait_until

MORE = [("ann", f"message {number}") for number in range(3, 7)]  # after the README's two
STOP_AFTER = 3  # lines the first listener prints before it is stopped
WITHIN = 30.0


@pytest.fixture(scope="module")
def prefix() -> Iterator[str]:
    redis_url = redis_url_or_skip()
    chosen = f"gqlwire-test-chat-resume:{uuid.uuid4().hex[:12]}:"
    yield chosen
    delete_keys(redis_url, chosen)


@pytest.fixture(scope="module")
def servers(prefix: str) -> Iterator[dict[str, ServerProcess]]:
    """The server of ``chat-resume-serve``, by the port the README printed for it."""
    [command] = console("chat-resume-serve")
    serve = serve_command(command)
    assert "--workers" in serve.args, command.command
    env = {"REDIS_URL": redis_url_or_skip(), "CHAT_STREAM_PREFIX": prefix}
    proc = start_server(serve.target, "aiohttp", args=serve.args, env=env, cwd=str(REPO_ROOT))
    try:
        yield {serve.port: proc}
    finally:
        proc.stop()


class Listener:
    """The README's ``listen`` command, run in the test's directory; what it printed."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str]) -> None:
        self.command = command
        self.cwd = cwd
        self.env = env
        self.lines: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self._reading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            f"exec {self.command}",
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reading = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for line in self.process.stdout:
            self.lines.append(line.decode().rstrip("\n"))

    async def stop(self) -> None:
        """Ctrl-C; it must exit with status 0 and print nothing on stderr."""
        process = self.process
        assert process is not None and self._reading is not None
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        async with asyncio.timeout(WITHIN):
            status = await process.wait()
            await self._reading
        assert process.stderr is not None
        errors = (await process.stderr.read()).decode()
        assert (status, errors) == (0, ""), self.command

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self._reading is not None:
            self._reading.cancel()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """Where the commands run: a directory with the checkout's ``examples`` in it (the
    README runs them from a checkout), and room for the listener's cursor file."""
    (tmp_path / "examples").symlink_to(REPO_ROOT / "examples", target_is_directory=True)
    return tmp_path


def said(command: Command) -> tuple[list[str], str]:
    """A ``say`` command's words before its author, and the line the listener prints."""
    words = shlex.split(command.command)
    assert words[2] == "say" and len(words) == 7, command.command
    return words[:5], f"{words[5]}: {words[6]}"


async def talk(words: list[str], servers: dict[str, ServerProcess], cwd: Path) -> None:
    """The README's ``say`` command, with the authors and texts of ``MORE``."""
    for author, text in MORE:
        step = Command(" ".join(shlex.quote(word) for word in [*words, author, text]), [])
        await asyncio.to_thread(run_step, step, servers, cwd)


async def test_a_listener_stopped_and_started_again_prints_every_message_once(
    servers: dict[str, ServerProcess], checkout: Path
) -> None:
    proc = next(iter(servers.values()))
    offset = proc.log_offset()
    [listen] = console("chat-resume-listen")
    says = console("chat-resume-say")
    words, _ = said(says[0])
    joined = listen.output[0]
    expected = [joined] + [said(command)[1] for command in says] + [f"{a}: {t}" for a, t in MORE]
    assert listen.output == expected[: len(says) + 1]  # what the README shows it prints
    cursor_file = shlex.split(listen.command)[-1]
    command = localized(listen.command, servers)
    listener = Listener(command, checkout, shell_environment())
    restarted = Listener(command, checkout, shell_environment())
    try:
        await listener.start()
        await wait_until(lambda: listener.lines == [joined], "the listener joined", WITHIN)
        for step in says:
            await asyncio.to_thread(run_step, step, servers, checkout)
        talking = asyncio.get_running_loop().create_task(talk(words, servers, checkout))
        await wait_until(lambda: len(listener.lines) >= STOP_AFTER, "the listener printed", WITHIN)
        await listener.stop()  # while the others keep talking
        assert (checkout / cursor_file).exists()
        await restarted.start()
        await talking
        total = len(expected) - len(listener.lines)
        await wait_until(
            lambda: len(restarted.lines) >= total, "the listener printed the rest", WITHIN
        )
        await restarted.stop()
    finally:
        await listener.kill()
        await restarted.kill()
    assert listener.lines + restarted.lines == expected
    assert_clean_log(proc, since=offset)
