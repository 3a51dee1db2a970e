"""How a worker process stops when the process that started it is gone, so that no
worker of ``gqlwire serve`` outlives the command (docs/servers.md, "Many workers").

Used by the workers of `gqlwire.workers.Supervisor` (whose channel tells them) and by
granian's workers (which poll their parent's id)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

__all__ = ["ORPHAN_GRACE", "stop_self_gracefully", "stop_when_parent_dies"]

ORPHAN_GRACE = 30.0
"""Seconds an orphaned worker gives its graceful stop before it exits anyway."""

_PARENT_POLL_INTERVAL = 1.0


def stop_self_gracefully() -> None:
    """The stop a SIGTERM asks for (each runner's graceful shutdown), then an exit if
    that has not ended the process `ORPHAN_GRACE` seconds later. Blocks: call it from
    a daemon thread."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(ORPHAN_GRACE)
    os._exit(1)


def stop_when_parent_dies() -> None:
    """Stop this process gracefully once its parent has died: a thread looks at the
    parent's id once a second (for workers whose supervisor is not ours: granian's)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_INTERVAL)
        stop_self_gracefully()

    threading.Thread(target=watch, name="gqlwire-parent-watch", daemon=True).start()
