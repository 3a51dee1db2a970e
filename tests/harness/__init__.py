"""The test harness: what tests in more than one folder use.

- ``servers``: real server processes (``gqlwire serve`` on a free port), their logs
  (``assert_clean_log``, ``LogWatch``), and a pool that shares them across tests.
- ``routes``: one route table served as ASGI and as aiohttp, for the apps of ``tests/apps``.
- ``wsclient``: a WebSocket client speaking JSON messages, and small HTTP helpers;
  ``rawws``: a client writing raw frames (what well-behaved clients never send).
- ``protocols``: the subprotocols' names and the message types that differ between them.
- ``control``: the control endpoints of the instrumented apps (recorded events, stats).
- ``closes``: the close a client sees per server (daphne drops reasons and some codes).
- ``fake_asgi``: a scripted ASGI server, for server behaviours no real server shows on demand.
- ``transports``: a ``Transport`` whose writes the test controls.
- ``node``: the third-party Node clients of ``tests/interop/node``.
- ``redis_server``: the Redis at ``REDIS_URL`` and private ``redis-server`` processes.
- ``nats_server``: the NATS (JetStream) at ``NATS_URL`` and private ``nats-server`` processes.
- ``waiting``: bounded waits for async tests.

Helpers used by one folder only stay there (``support.py`` or its ``conftest.py``).
"""
