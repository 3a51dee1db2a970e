"""The adapters between gqlwire and the servers (ASGI, aiohttp): the rules every app keeps
whatever its server does, and regression tests for the failures of docs/design.md ("Why
it exists"), over real servers and over a scripted ASGI server."""
