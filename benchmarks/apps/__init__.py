"""The benchmarked servers: gqlwire, Strawberry, Ariadne and the raw ceiling, each with
the same schema, the same events and the same control endpoints."""
