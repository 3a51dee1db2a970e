"""gqlwire.Client over real servers: gqlwire's own (aiohttp and uvicorn), the reference
Node servers, and a scripted server for what no real server does on demand."""
