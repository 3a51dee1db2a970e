"""Both protocol machines under random input sequences (hypothesis state machines).

A model plays the runtime: it feeds frames (well-formed messages of both protocols,
random JSON shaped like messages, random text and bytes, oversized frames), timer
expiries (armed or stray), ``on_connect`` outcomes, operation reports for known and
unknown ids, server closes and lost connections, and carries out what the machine
returns. After every step it checks what must always hold:

* no action ever follows a Close, and there is at most one Close;
* no exception escapes;
* the operations the machine considers active are exactly those the runtime was told
  to start and has not yet seen ended (by CancelOperation, by reporting their end, or
  by the close), and never more than ``max_operations``;
* every Send is a JSON object of the server's side of the protocol: it passes
  ``validate_message`` on graphql-transport-ws, it is a legacy server type on graphql-ws
  (never a ``ping``/``pong`` there, never a ``ka`` on graphql-transport-ws), and
  results (``next``/``data``) only ever go to active operations;
* ``on_connect`` is asked at most once per connection (a second init is refused on both
  protocols), so no operation runs with params it did not accept;
* no frame sent carries an id longer than ``MAX_OPERATION_ID_LENGTH`` or a pong payload
  over ``MAX_PING_PAYLOAD_BYTES``, and a frame that arrives with no token left in the
  rate limit's bucket closes with 1008.

Frames arrive at the model's clock, which a rule moves on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import orjson
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from gqlwire.protocol import (
    Action,
    Authenticate,
    CancelOperation,
    CancelTimer,
    Close,
    ErrorStage,
    InvalidMessage,
    LegacyWSMachine,
    OperationId,
    ProtocolMachine,
    ProtocolSettings,
    Send,
    StartOperation,
    StartTimer,
    Timer,
    TransportWSMachine,
    validate_message,
)
from gqlwire.protocol.messages import MAX_OPERATION_ID_LENGTH, MAX_PING_PAYLOAD_BYTES

EXAMPLES = int(os.environ.get("GQLWIRE_TEST_EXAMPLES", "200"))
"""Input sequences per machine. The matrix's cells other than ``main`` run this same pure
code on another Python or graphql-core (which the machines never touch) and set fewer
there (``scripts/test_matrix.py``)."""
FAST = settings(max_examples=EXAMPLES, stateful_step_count=50, deadline=None)

# Small pools, so that ids collide: duplicates, reuse, stop/complete of known ids.
# graphql-transport-ws ids are strings; the legacy protocol takes numbers as well.
TRANSPORT_IDS: list[OperationId] = ["1", "2", "3", "toString"]
LEGACY_IDS: list[OperationId] = [*TRANSPORT_IDS, 7]
LONG_ID = "i" * (MAX_OPERATION_ID_LENGTH + 1)
transport_ids = st.sampled_from([*TRANSPORT_IDS, *TRANSPORT_IDS, LONG_ID])
ids = st.sampled_from([*LEGACY_IDS, *LEGACY_IDS, LONG_ID])
not_ids: list[Any] = ["", None, 0, True, 1.5, [1], {}]
any_ids = st.one_of(ids, st.sampled_from(not_ids))

SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
"""Unpaired surrogates, which no UTF-8 text (so no frame) can hold."""

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(blacklist_categories=SURROGATES), max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=5), inner, max_size=3),
    ),
    max_leaves=6,
).filter(lambda value: _encodable(value))
objects = st.dictionaries(st.sampled_from(["a", "b", "query", "message"]), json_values, max_size=3)
maybe_payloads = st.one_of(st.just(...), st.none(), objects)

TYPES = [
    "connection_init",
    "connection_ack",
    "ping",
    "pong",
    "subscribe",
    "next",
    "error",
    "complete",
    "start",
    "stop",
    "data",
    "ka",
    "connection_error",
    "connection_terminate",
    "",
    "Ping",
]


def _encodable(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True


def _message(type: str, *, id: Any = ..., payload: Any = ...) -> dict[str, Any]:
    message: dict[str, Any] = {"type": type}
    if id is not ...:
        message["id"] = id
    if payload is not ...:
        message["payload"] = payload
    return message


requests = st.fixed_dictionaries(
    {"query": st.sampled_from(["{ a }", "", "subscription { greetings }"])},
    optional={
        "variables": st.one_of(st.none(), st.just({"v": 1})),
        "operationName": st.one_of(st.none(), st.just("Q")),
        "extensions": st.one_of(st.none(), st.just({})),
    },
)

transport_operations = st.one_of(
    st.builds(lambda i, p: _message("subscribe", id=i, payload=p), transport_ids, requests),
    st.builds(lambda i: _message("complete", id=i), transport_ids),
)
transport_messages = st.one_of(
    transport_operations,
    transport_operations,
    transport_operations,
    st.builds(lambda p: _message("ping", payload=p), maybe_payloads),
    st.builds(
        lambda n: _message("ping", payload={"p": "a" * n}),
        st.sampled_from([MAX_PING_PAYLOAD_BYTES - 8, MAX_PING_PAYLOAD_BYTES - 7]),
    ),
    st.builds(lambda p: _message("pong", payload=p), maybe_payloads),
    st.builds(lambda p: _message("connection_init", payload=p), maybe_payloads),
)
# Valid, but only a server sends them (graphql-transport-ws closes with 4500).
server_messages = st.one_of(
    st.just(_message("connection_ack")),
    st.builds(lambda i: _message("next", id=i, payload={"data": {}}), transport_ids),
    st.builds(lambda i: _message("error", id=i, payload=[{"message": "x"}]), transport_ids),
)

legacy_operations = st.one_of(
    st.builds(lambda i, p: _message("start", id=i, payload=p), ids, requests),
    st.builds(lambda i: _message("stop", id=i), ids),
)
legacy_messages = st.one_of(
    legacy_operations,
    legacy_operations,
    st.builds(lambda p: _message("connection_init", payload=p), maybe_payloads),
)

# Shaped like messages, wrong in random ways.
message_like = st.builds(
    lambda type, id, payload: _message(type, id=id, payload=payload),
    st.one_of(st.sampled_from(TYPES), json_scalars),
    st.one_of(st.just(...), any_ids),
    st.one_of(st.just(...), json_values, requests),
)

junk_frames: st.SearchStrategy[str | bytes] = st.one_of(
    json_values.map(lambda value: orjson.dumps(value).decode()),
    message_like.map(lambda value: orjson.dumps(value).decode()),
    server_messages.map(lambda value: orjson.dumps(value).decode()),
    st.just('{"type":"connection_terminate"}'),
    message_like.map(orjson.dumps),  # binary frames
    st.text(max_size=12),  # may hold lone surrogates: never valid UTF-8
    st.binary(max_size=12),
    st.integers(min_value=150, max_value=400).map(
        lambda n: '{"type":"ping","x":"' + "a" * n + '"}'
    ),
)

machine_settings = st.builds(
    ProtocolSettings,
    connection_init_wait_timeout=st.sampled_from([None, 0, 1.0]),
    keep_alive=st.sampled_from([None, 1.0]),
    pong_timeout=st.sampled_from([None, 0.5]),
    max_operations=st.sampled_from([None, 1, 2, 3]),
    max_message_size=st.sampled_from([None, 200, 1024 * 1024]),
    max_messages_per_second=st.sampled_from([None, 100.0, 5.0]),
    message_burst=st.sampled_from([200, 3, 1]),
)

connect_results = st.sampled_from([True, None, {}, {"ack": 1}, [1], "yes", False])
formatted_errors = st.lists(
    st.fixed_dictionaries(
        {"message": st.text(max_size=10)}, optional={"path": st.just(["a", 0])}
    ).filter(_encodable),
    min_size=1,
    max_size=2,
)
results = st.fixed_dictionaries(
    {"data": st.one_of(st.none(), st.just({"a": 1}))},
    optional={"errors": formatted_errors},
)
# SYNTAX closes a graphql-transport-ws connection, so it is the rarest.
stages = st.sampled_from(
    [ErrorStage.VALIDATION, ErrorStage.REQUEST, ErrorStage.STREAM] * 2 + [ErrorStage.SYNTAX]
)
reasons = st.one_of(st.text(max_size=10), st.text(min_size=124, max_size=130))

TRANSPORT_SERVER_TYPES = {"connection_ack", "ping", "pong", "next", "error", "complete"}
LEGACY_SERVER_TYPES = {"connection_ack", "connection_error", "ka", "data", "error", "complete"}


def _hashable_id(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


class ProtocolModel(RuleBasedStateMachine):
    """The runtime's view of one connection; subclasses pick the protocol."""

    machine_class: ClassVar[type[ProtocolMachine]]
    client_messages: ClassVar[st.SearchStrategy[dict[str, Any]]]
    client_operations: ClassVar[st.SearchStrategy[dict[str, Any]]]
    id_pool: ClassVar[list[OperationId]]
    init_frame: ClassVar[str] = '{"type":"connection_init","payload":{}}'

    def __init__(self) -> None:
        super().__init__()
        self.machine: ProtocolMachine = self.machine_class(ProtocolSettings())
        self.settings = ProtocolSettings()
        self.running: set[OperationId] = set()
        self.running_at_step_start: set[OperationId] = set()
        self.client_ids: set[OperationId] = set()
        self.ended = False
        self.close_count = 0
        self.pending_authentications = 0
        self.authentications = 0
        self.acks = 0
        self.now = 0.0
        self.tokens = 0.0  # the rate limit's bucket, as the model counts it
        self.last_arrival: float | None = None

    # -- carrying out actions ------------------------------------------------------------

    def apply(self, actions: list[Action]) -> None:
        assert isinstance(actions, list)
        for action in actions:
            assert not self.ended, f"{action!r} after the connection ended"
            if isinstance(action, Close):
                self.close_count += 1
                self.ended = True
                self.running.clear()
                assert isinstance(action.code, int)
                assert len(action.reason.encode()) <= 123
                if action.code == 1008:
                    assert self.tokens < 1, "closed for the rate with a token left"
            elif isinstance(action, Send):
                self.check_sent(action.text)
            elif isinstance(action, StartOperation):
                assert action.id not in self.running, f"{action.id!r} started twice"
                assert isinstance(action.payload, dict)
                assert isinstance(action.payload.get("query"), str)
                self.running.add(action.id)
            elif isinstance(action, CancelOperation):
                assert action.id in self.running, f"cancel of {action.id!r}, not running"
                self.running.discard(action.id)
            elif isinstance(action, Authenticate):
                self.pending_authentications += 1
                self.authentications += 1
            else:
                assert isinstance(action, StartTimer | CancelTimer)
                assert isinstance(action.timer, Timer)
                if isinstance(action, StartTimer):
                    assert action.delay >= 0

    def check_sent(self, text: str) -> None:
        message = orjson.loads(text)
        assert isinstance(message, dict)
        kind = message["type"]
        if kind == "connection_ack":
            self.acks += 1
        id = message.get("id")
        assert not isinstance(id, str) or len(id) <= MAX_OPERATION_ID_LENGTH
        if kind == "pong" and "payload" in message:
            assert len(orjson.dumps(message["payload"])) <= MAX_PING_PAYLOAD_BYTES
        self.check_protocol_message(message)

    def check_protocol_message(self, message: dict[str, Any]) -> None:
        raise AssertionError("each protocol's model checks its own messages")

    def end_of_step(self) -> None:
        self.running_at_step_start = set(self.running)

    # -- inputs -------------------------------------------------------------------------------

    # Most rules that end the connection only act for one draw of `go` in several (the
    # largest: hypothesis starts from the smallest), so that most sequences spend their
    # steps on a live connection.

    @initialize(
        options=machine_settings,
        start=st.sampled_from(["running", "acked", "running", "init", "opened"]),
    )
    def open(self, options: ProtocolSettings, start: str) -> None:
        self.settings = options
        self.machine = self.machine_class(options)
        self.apply(self.machine.opened())
        if start != "opened":
            self.feed(self.init_frame)
        if start in ("acked", "running"):
            self.pending_authentications -= 1
            self.apply(self.machine.connect_result(True))
        if start == "running":
            for id in self.id_pool[:2]:
                self.feed_message(self.start_message(id))
        self.end_of_step()

    @staticmethod
    def start_message(id: OperationId) -> dict[str, Any]:
        raise AssertionError("each protocol's model builds its own start message")

    def feed(self, data: str | bytes) -> None:
        was_open = not self.ended
        admitted = self.count_token()
        actions = self.machine.receive(data, self.now)
        self.apply(actions)
        if was_open and not admitted:
            assert actions == [Close(1008, "Too many messages")], actions
        self.end_of_step()

    def count_token(self) -> bool:
        """The model's own token bucket, to check each 1008 against: whether a frame
        arriving now is within the rate."""
        rate, burst = self.settings.max_messages_per_second, self.settings.message_burst
        if rate is None or self.ended:
            self.tokens = float(burst)
            return True
        if self.last_arrival is None:
            self.tokens = float(burst)
        else:
            self.tokens = min(float(burst), self.tokens + (self.now - self.last_arrival) * rate)
        self.last_arrival = self.now
        if self.tokens < 1:
            return False  # the machine must close with 1008
        self.tokens -= 1
        return True

    @rule(seconds=st.sampled_from([0.001, 0.01, 0.2, 1.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds

    def feed_message(self, message: dict[str, Any]) -> None:
        if message.get("type") in ("start", "subscribe") and _hashable_id(message.get("id")):
            self.client_ids.add(message["id"])
        self.feed(orjson.dumps(message).decode())

    @rule(data=st.data())
    def receive_a_message(self, data: st.DataObject) -> None:
        self.feed_message(data.draw(self.client_messages))

    @rule(data=st.data())
    def receive_an_operation_message(self, data: st.DataObject) -> None:
        self.feed_message(data.draw(self.client_operations))

    @rule(frame=junk_frames, go=st.integers(0, 7))
    def receive_anything(self, frame: str | bytes, go: int) -> None:
        if go == 7:
            self.feed(frame)

    @rule(timer=st.sampled_from([Timer.KEEP_ALIVE, Timer.KEEP_ALIVE, Timer.INIT, Timer.PONG]))
    def fire_timer(self, timer: Timer) -> None:
        # INIT and PONG may be stray expiries (a timer never armed, or disarmed).
        self.apply(self.machine.timer_fired(timer))
        self.end_of_step()

    @precondition(lambda self: self.pending_authentications > 0)
    @rule(result=connect_results)
    def on_connect_returns(self, result: Any) -> None:
        self.pending_authentications -= 1
        self.apply(self.machine.connect_result(result))
        self.end_of_step()

    @precondition(lambda self: self.pending_authentications > 0)
    @rule(reason=reasons, go=st.integers(0, 3))
    def on_connect_raises(self, reason: str, go: int) -> None:
        if go != 3:
            return
        self.pending_authentications -= 1
        self.apply(self.machine.connect_failed(reason))
        self.end_of_step()

    def some_id(self, data: st.DataObject) -> OperationId:
        """Mostly a running id, sometimes any id of the pool."""
        pool = st.sampled_from(self.id_pool)
        known = sorted(self.running, key=repr)
        return data.draw(st.one_of(st.sampled_from(known), pool) if known else pool)

    @rule(data=st.data(), payload=results)
    def operation_yields(self, data: st.DataObject, payload: dict[str, Any]) -> None:
        id = self.some_id(data)
        self.apply(self.machine.operation_next(id, payload))
        self.end_of_step()

    @rule(data=st.data())
    def operation_completes(self, data: st.DataObject) -> None:
        id = self.some_id(data)
        self.apply(self.machine.operation_complete(id))
        self.running.discard(id)
        self.end_of_step()

    @rule(data=st.data(), errors=formatted_errors, stage=stages)
    def operation_errors(
        self, data: st.DataObject, errors: list[dict[str, Any]], stage: ErrorStage
    ) -> None:
        id = self.some_id(data)
        self.apply(self.machine.operation_errors(id, errors, stage))
        self.running.discard(id)
        self.end_of_step()

    @rule(data=st.data(), reason=reasons, go=st.integers(0, 7))
    def operation_raises(self, data: st.DataObject, reason: str, go: int) -> None:
        # Rarer than the other reports: on graphql-transport-ws it always closes.
        if go != 7:
            return
        id = self.some_id(data)
        self.apply(self.machine.operation_failed(id, reason))
        self.running.discard(id)
        self.end_of_step()

    @rule(
        how=st.sampled_from(["close", "lost"]),
        code=st.sampled_from([1000, 1001, 1011, 4321]),
        reason=reasons,
        go=st.integers(0, 19),
    )
    def connection_ends(self, how: str, code: int, reason: str, go: int) -> None:
        # Rare, so that most sequences run long before the end.
        if go != 19:
            return
        if how == "close":
            self.apply(self.machine.close(code, reason))
        else:
            lost: Callable[[], object] = self.machine.connection_lost  # typed to return None
            assert lost() is None
            self.ended = True
            self.running.clear()
        self.end_of_step()

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def at_most_one_close(self) -> None:
        assert self.close_count <= 1

    @invariant()
    def on_connect_is_asked_at_most_once(self) -> None:
        assert self.authentications <= 1

    @invariant()
    def active_operations_are_the_runtimes(self) -> None:
        if self.ended:
            assert self.machine.closed
            assert self.machine.active_operations == 0
            assert not self.running
            return
        assert self.machine.active_operations == len(self.running)
        for id in self.running:
            assert self.machine.is_active(id)
        for id in set(self.id_pool) - self.running:
            assert not self.machine.is_active(id)

    @invariant()
    def operations_stay_under_the_limit(self) -> None:
        limit = self.settings.max_operations
        if limit is not None:
            assert len(self.running) <= limit

    def teardown(self) -> None:
        # The runtime ends every connection; afterwards nothing is left running.
        actions = self.machine.close(1001, "Going away")
        if self.ended:
            assert actions == []
        else:
            assert actions == [Close(1001, "Going away")]
        assert self.machine.active_operations == 0


class TransportWSModel(ProtocolModel):
    machine_class = TransportWSMachine
    client_messages = transport_messages
    client_operations = transport_operations
    id_pool = TRANSPORT_IDS

    @staticmethod
    def start_message(id: OperationId) -> dict[str, Any]:
        return _message("subscribe", id=id, payload={"query": "{ a }"})

    def check_protocol_message(self, message: dict[str, Any]) -> None:
        try:
            validate_message(message)
        except InvalidMessage as error:  # pragma: no cover - reported by the assert
            raise AssertionError(f"invalid server message {message!r}: {error.detail}") from None
        kind = message["type"]
        assert kind in TRANSPORT_SERVER_TYPES, kind
        if kind in ("next", "error", "complete"):
            # A graphql-ws client refuses anything but ping/pong before the ack.
            assert self.acks == 1
        if kind in ("next", "complete"):
            assert message["id"] in self.running, f"{kind} for inactive {message['id']!r}"
        if kind == "error" and message["id"] not in self.running:
            # Not an operation's end: the limit refusing a new one.
            assert message["payload"] == [{"message": "Subscription limit reached"}]
        assert self.acks <= 1
        assert self.authentications <= 1


class LegacyWSModel(ProtocolModel):
    machine_class = LegacyWSMachine
    client_messages = legacy_messages
    client_operations = legacy_operations
    id_pool = LEGACY_IDS

    @staticmethod
    def start_message(id: OperationId) -> dict[str, Any]:
        return _message("start", id=id, payload={"query": "{ a }"})

    def check_protocol_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        assert kind in LEGACY_SERVER_TYPES, kind
        assert set(message) <= {"type", "id", "payload"}
        if "id" in message and message["id"] is not None:
            assert _hashable_id(message["id"]) and message["id"] != ""
        if kind == "ka":
            assert self.acks >= 1, "ka before connection_ack"
            assert set(message) == {"type"}
        elif kind == "data":
            assert message["id"] in self.running, f"data for inactive {message['id']!r}"
            assert isinstance(message["payload"], dict)
        elif kind in ("error", "connection_error"):
            payload = message["payload"]
            # A single error object, never an array.
            assert isinstance(payload, dict)
            assert isinstance(payload["message"], str)
        elif kind == "complete":
            id = message["id"]
            assert id in self.running_at_step_start or id in self.client_ids
        elif kind == "connection_ack":
            assert "payload" not in message or isinstance(message["payload"], dict)


TestTransportWSMachine = TransportWSModel.TestCase
TestTransportWSMachine.settings = FAST
TestLegacyWSMachine = LegacyWSModel.TestCase
TestLegacyWSMachine.settings = FAST
