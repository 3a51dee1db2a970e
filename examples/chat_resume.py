"""A chat that loses no message: Redis Streams keep each room's history, and a listener
that is stopped and started again prints every message exactly once.

Serve it with two worker processes (Redis at ``REDIS_URL``, default
``redis://127.0.0.1:6379/0``)::

    gqlwire serve examples.chat_resume:graphql --workers 2

Listen to a room, keeping the last cursor in a file; say something::

    python examples/chat_resume.py listen ws://127.0.0.1:8000/graphql lobby bob \
        --cursor-file bob.cursor
    python examples/chat_resume.py say ws://127.0.0.1:8000/graphql lobby ann "hello"

Stop the listener (Ctrl-C, or ``kill``) and start it again with the same command: it
resumes after the last message it printed, through whichever worker it reaches. A new
listener (no cursor file yet) starts from now, with a notice of its arrival. Whatever
Redis no longer has is reported on stderr, never skipped silently.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import strawberry

from gqlwire import Client, GraphQLServer
from gqlwire.fanout import RedisStreamBroker, current_resume

broker = RedisStreamBroker(
    os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    stream_prefix=os.environ.get("CHAT_STREAM_PREFIX", "chat-resume:"),
    max_length=1000,  # messages kept per room, for listeners to resume from
)


@strawberry.type
class Message:
    author: str | None  # None: a notice of the room itself
    text: str


@strawberry.type
class Query:
    @strawberry.field
    def rooms(self) -> list[str]:
        return []


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def say(self, room: str, author: str, text: str) -> bool:
        """Adds a message to the room's stream: every worker's listeners get it."""
        await broker.publish(room, {"author": author, "text": text})
        return True


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def messages(self, room: str, user: str) -> AsyncGenerator[Message, None]:
        """The room's messages from now on, starting with ``user``'s arrival; or, when the
        client resumes, after its cursor (gqlwire hands the broker the cursor)."""
        point = current_resume.get()
        resuming = point is not None and point.after is not None
        async with broker.subscription(room) as events:
            if not resuming:
                # Subscribed already, so this listener's first message is its own arrival.
                await broker.publish(room, {"author": None, "text": f"{user} joined"})
            async for payload in events:
                yield Message(**payload)


schema = strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)
graphql = GraphQLServer(schema)

LISTEN = "subscription ($room: String!, $user: String!) { messages(room: $room, user: $user) { author text } }"  # noqa: E501
SAY = "mutation ($room: String!, $author: String!, $text: String!) { say(room: $room, author: $author, text: $text) }"  # noqa: E501


async def listen(url: str, room: str, user: str, cursor_file: Path, cursor: str) -> None:
    """Print each message of ``room`` once, across restarts: the cursor of the last
    message printed is saved to ``cursor_file``, and read back (``cursor``) when
    starting again."""
    extensions = {"cursor": cursor} if cursor else None
    async with Client(url) as client:
        results = client.subscribe(LISTEN, {"room": room, "user": user}, extensions=extensions)
        async with contextlib.aclosing(results):
            async for result in results:
                show(result, cursor_file)


def show(result: dict[str, Any], cursor_file: Path) -> None:
    # No await in here: a stop (a cancellation) cannot fall between printing a message
    # and saving its cursor, so a restart neither repeats nor skips one.
    extensions = result.get("extensions") or {}
    gap = extensions.get("gap")
    if gap:
        print(f"(messages lost: {gap})", file=sys.stderr, flush=True)
    message = result["data"]["messages"]
    author = message["author"]
    print(f"{author}: {message['text']}" if author else f"* {message['text']}", flush=True)
    saving = cursor_file.with_name(cursor_file.name + ".new")
    saving.write_text(extensions["cursor"])
    saving.replace(cursor_file)  # atomic: the file always holds a whole cursor


async def say(url: str, room: str, author: str, text: str) -> None:
    async with Client(url) as client:
        result = await client.execute(SAY, {"room": room, "author": author, "text": text})
    if result.get("errors"):
        raise SystemExit(f"error: {result['errors']}")


async def until_stopped(work: Any) -> None:
    """Run ``work``; Ctrl-C or SIGTERM stops it between two messages."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listening = commands.add_parser("listen", help="print a room's messages, once each")
    listening.add_argument("url")
    listening.add_argument("room")
    listening.add_argument("user")
    listening.add_argument("--cursor-file", type=Path, required=True)
    saying = commands.add_parser("say", help="post a message to a room")
    for name in ("url", "room", "author", "text"):
        saying.add_argument(name)
    args = parser.parse_args()
    if args.command == "listen":
        saved = args.cursor_file
        cursor = saved.read_text().strip() if saved.exists() else ""
        asyncio.run(until_stopped(listen(args.url, args.room, args.user, saved, cursor)))
    else:
        asyncio.run(say(args.url, args.room, args.author, args.text))


if __name__ == "__main__":
    main()
