"""The legacy ``graphql-ws`` subprotocol, black-box over real servers."""
