"""The ``graphql-transport-ws`` subprotocol, black-box over real servers: the reference
(npm graphql-ws) server and transport suites, ported."""
