"""Choosing the subprotocol of a connection from what the client offers."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from .codes import GRAPHQL_TRANSPORT_WS, GRAPHQL_WS


def parse_protocol_header(values: str | Iterable[str]) -> list[str]:
    """Split ``Sec-WebSocket-Protocol`` header values into the offered names.

    Each value may itself be a comma-separated list (servers differ in whether they
    split it), so splitting again is always safe. A single raw header string is one
    value, not an iterable of characters.
    """
    if isinstance(values, str):
        values = [values]
    offered: list[str] = []
    for value in values:
        if "," not in value:  # the usual header: one name
            name = value.strip()
            if name:
                offered.append(name)
            continue
        offered.extend(item.strip() for item in value.split(",") if item.strip())
    return offered


def choose_subprotocol(offered: str | Iterable[str]) -> str | None:
    """The protocol to speak: ``graphql-transport-ws`` whenever it is offered, else
    legacy ``graphql-ws``, else ``None``. Names match exactly and case-sensitively.

    This is the routing rule of the graphql-ws backwards-compatibility recipe: the
    server's preference, not the client's order, because a client that offers both
    (gql offers legacy first) can always speak the current protocol.
    """
    return choose_among(parse_protocol_header(offered))


def choose_among(names: Collection[str], enabled: Collection[str] | None = None) -> str | None:
    """:func:`choose_subprotocol` of names already split (see
    :func:`parse_protocol_header`); only among ``enabled``, when given."""
    if GRAPHQL_TRANSPORT_WS in names and (enabled is None or GRAPHQL_TRANSPORT_WS in enabled):
        return GRAPHQL_TRANSPORT_WS
    if GRAPHQL_WS in names and (enabled is None or GRAPHQL_WS in enabled):
        return GRAPHQL_WS
    return None
