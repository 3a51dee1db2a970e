"""The sans-I/O protocol core: messages, close codes and the two protocol machines.

Nothing here performs I/O or reads a clock; see :mod:`gqlwire.connection` for the
runtime that drives a machine over a real socket.
"""

from .actions import (
    Action,
    Authenticate,
    CancelOperation,
    CancelTimer,
    Close,
    OperationId,
    Send,
    StartOperation,
    StartTimer,
    Timer,
)
from .codes import GRAPHQL_TRANSPORT_WS, GRAPHQL_WS, CloseCode, limit_close_reason
from .legacy_ws import LegacyWSMachine
from .machine import ErrorStage, ProtocolMachine, ProtocolSettings, result_tail
from .messages import InvalidMessage, MessageType, encode, parse_message, validate_message
from .subprotocols import choose_among, choose_subprotocol, parse_protocol_header
from .transport_ws import TransportWSMachine

__all__ = [
    "GRAPHQL_TRANSPORT_WS",
    "GRAPHQL_WS",
    "Action",
    "Authenticate",
    "CancelOperation",
    "CancelTimer",
    "Close",
    "CloseCode",
    "ErrorStage",
    "InvalidMessage",
    "LegacyWSMachine",
    "MessageType",
    "OperationId",
    "ProtocolMachine",
    "ProtocolSettings",
    "Send",
    "StartOperation",
    "StartTimer",
    "Timer",
    "TransportWSMachine",
    "choose_among",
    "choose_subprotocol",
    "encode",
    "limit_close_reason",
    "machine_for",
    "parse_message",
    "parse_protocol_header",
    "result_tail",
    "validate_message",
]


def machine_for(protocol: str, settings: ProtocolSettings | None = None) -> ProtocolMachine:
    """A fresh machine for a negotiated subprotocol name."""
    if protocol == GRAPHQL_TRANSPORT_WS:
        return TransportWSMachine(settings)
    if protocol == GRAPHQL_WS:
        return LegacyWSMachine(settings)
    raise ValueError(f"unknown subprotocol {protocol!r}")
