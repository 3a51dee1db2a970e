"""A schema whose subscription reads a :class:`NatsBroker`, for server processes that
share one JetStream stream (``gqlwire serve tests.fanout.nats_app:schema``).

The broker uses ``$GQLWIRE_TEST_NATS_URL``, stream ``$GQLWIRE_TEST_NATS_STREAM`` and
subject prefix ``$GQLWIRE_TEST_NATS_PREFIX``. ``subscription { tick(topic: "t") { seq } }``
yields each event ``{"seq": n}`` published to topic ``t`` (by the tests, directly on the
stream); the resolver is the documented one, with nothing about resuming in it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from graphql import build_schema

from gqlwire.fanout import NatsBroker

broker = NatsBroker(
    os.environ.get("GQLWIRE_TEST_NATS_URL", "nats://127.0.0.1:4222"),
    stream=os.environ.get("GQLWIRE_TEST_NATS_STREAM", "GQLWIRE_TEST"),
    subject_prefix=os.environ.get("GQLWIRE_TEST_NATS_PREFIX", "gqlwire-test."),
)

schema = build_schema(
    """
    type Query { ok: Boolean }
    type Tick { seq: Int! }
    type Subscription { tick(topic: String!): Tick! }
    """
)


async def subscribe_tick(_root: Any, _info: Any, topic: str) -> AsyncIterator[dict[str, Any]]:
    async for event in broker.subscribe(topic):
        yield event


tick = schema.subscription_type.fields["tick"]  # type: ignore[union-attr]
tick.subscribe = subscribe_tick
tick.resolve = lambda event, _info, topic: event
