"""The fan-out benchmark: gqlwire against Strawberry, Ariadne and a raw WebSocket
ceiling, each server in its own process, driven by raw asyncio clients in another.

    python -m benchmarks            # the full run (about 15 minutes on 2 cores)
    python -m benchmarks --quick    # a small smoke run

Results go to ``benchmarks/results/latest.{json,md,png}``.
"""
