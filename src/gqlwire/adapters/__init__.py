"""Thin adapters from servers' APIs to gqlwire's :class:`~gqlwire.adapters.base.Transport`."""
