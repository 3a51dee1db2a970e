"""The exceptions of the server core that application code raises or sees.

A leaf module: the operation core raises and catches them, the schema libraries'
pipelines raise :class:`RequestErrors`, and the transports tell clients about a
:class:`ServerError`.
"""

from __future__ import annotations

from graphql import GraphQLError


class ServerError(Exception):
    """A misconfiguration found while running an operation.

    Unlike exceptions from application code, its message is always shown to the
    client (it describes the server setup, not application data).
    """


class RequestErrors(Exception):
    """Raised by an ``execute`` or ``subscribe`` function (or by the stream it returned,
    before its first result) for errors that stop the request before execution, such as
    a schema library's own validation: they are answered like validation errors."""

    def __init__(self, errors: list[GraphQLError]) -> None:
        super().__init__("; ".join(error.message for error in errors))
        self.errors = errors
