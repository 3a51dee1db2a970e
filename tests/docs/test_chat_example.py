"""The README's Redis chat, run as printed on every server: two server processes, a
subscriber on the second, a message posted to the first.

Needs Redis at ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``): skipped when none
answers, a failure under ``CI=true`` (as every Redis test). The subscriber is the
README's ``gqlwire subscribe`` command; it is stopped with Ctrl-C (SIGINT) at the end,
as a user would, and must exit with 130.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.commands import localized, require_curl, run_step, serve_command, shell_environment
from tests.docs.readme import console
from tests.harness.redis_server import numsub, redis_url_or_skip
from tests.harness.servers import REPO_ROOT, ServerProcess, assert_clean_log, start_server
from tests.harness.waiting import wait_until

# examples/redis_chat.py publishes a room's messages on this Redis channel.
CHANNEL_PREFIX = "chat:"
SIGINT_STATUS = 130  # gqlwire subscribe's exit status on Ctrl-C


@pytest.fixture(scope="module")
def redis_url() -> str:
    return redis_url_or_skip()


@pytest.fixture(scope="module")
def chat(server_name: str, redis_url: str) -> Iterator[dict[str, ServerProcess]]:
    """The servers of ``chat-serve``, by the port the README printed for each."""
    started: dict[str, ServerProcess] = {}
    try:
        for command in console("chat-serve"):
            serve = serve_command(command)
            started[serve.port] = start_server(
                serve.target,
                server_name,
                args=serve.args,
                env={"REDIS_URL": redis_url},
                cwd=str(REPO_ROOT),
            )
        yield started
    finally:
        for proc in started.values():
            proc.stop()


async def test_a_message_posted_on_one_process_reaches_a_subscriber_on_the_other(
    chat: dict[str, ServerProcess], redis_url: str, tmp_path: Path
) -> None:
    require_curl()
    assert len(chat) == 2
    offsets = {port: proc.log_offset() for port, proc in chat.items()}
    [subscribe] = console("chat-subscribe")
    [post] = console("chat-post")
    room = re.search(r'messages\(room: "(\w+)"\)', subscribe.command)
    assert room is not None, subscribe.command
    subscriber = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        f"exec {localized(subscribe.command, chat)}",
        cwd=tmp_path,
        env=shell_environment(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        channel = CHANNEL_PREFIX + room[1]

        async def subscribed() -> bool:
            return await numsub(redis_url, channel) >= 1

        await wait_until(subscribed, f"a server subscribed to Redis channel {channel!r}")
        await asyncio.to_thread(run_step, post, chat, tmp_path)
        assert subscriber.stdout is not None
        async with asyncio.timeout(10):
            line = await subscriber.stdout.readline()
        assert [line.decode().rstrip("\n")] == subscribe.output
    finally:
        if subscriber.returncode is None:
            subscriber.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            status = await subscriber.wait()
    assert subscriber.stderr is not None
    assert status == SIGINT_STATUS, (await subscriber.stderr.read()).decode()
    for port, proc in chat.items():
        assert_clean_log(proc, since=offsets[port])
