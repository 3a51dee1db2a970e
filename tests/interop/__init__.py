"""Interop: gqlwire on every server name, driven by clients this project did not write
(the graphql-ws and subscriptions-transport-ws npm clients, the gql Python client).

The Node clients are the scripts of ``node/``, run by :mod:`tests.harness.node`; the
server under test is :class:`tests.interop.support.InteropServer`.
"""
