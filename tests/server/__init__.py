"""gqlwire's server on the wire, per subprotocol, black-box over every real server."""
