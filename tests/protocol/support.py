"""Small readers for the action lists the protocol machines return."""

from __future__ import annotations

from typing import Any

import orjson

from gqlwire.protocol import Action, Close, Send


def texts(actions: list[Action]) -> list[str]:
    """The text of every Send, in order."""
    return [action.text for action in actions if isinstance(action, Send)]


def sent(actions: list[Action]) -> list[dict[str, Any]]:
    """Every Send, parsed back into a message."""
    return [orjson.loads(text) for text in texts(actions)]


def closes(actions: list[Action]) -> list[Close]:
    return [action for action in actions if isinstance(action, Close)]


def frame(message: Any) -> str:
    """A text frame holding ``message`` as JSON."""
    return orjson.dumps(message).decode()
