"""``python -m benchmarks [--quick] [--configs NAME,...] [--scenarios NAME,...] [--out DIR]``
and ``python -m benchmarks --profile NAME`` (cProfile of that server during fan-out)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .configs import CONFIGS, CONFIGS_BY_NAME, FULL, GC32_PYTHON_ENV, default_configs
from .driver import profile, run
from .report import print_targets, write

RESULTS = Path(__file__).resolve().parent / "results"


def _names(value: str, known: list[str], what: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})"
        )
    return names


def main(argv: list[str]) -> int:
    config_names = [config.name for config in CONFIGS]
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--configs",
        type=lambda v: _names(v, config_names, "configuration"),
        help=f"comma-separated, from: {', '.join(config_names)}",
    )
    parser.add_argument(
        "--scenarios",
        type=lambda v: _names(v, list(FULL), "scenario"),
        help=f"comma-separated, from: {', '.join(FULL)}",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="output directory")
    parser.add_argument(
        "--python-gc32",
        metavar="PATH",
        help="interpreter of gqlwire-aiohttp-gc32, with gqlwire and graphql-core 3.2 "
        "installed (default: .venvs/graphql-core-3.2/bin/python, which scripts/test_matrix.py "
        "--cells graphql-core-3.2 creates; without it the configuration is left out)",
    )
    parser.add_argument(
        "--profile",
        choices=config_names,
        help="profile this server during the fan-out scenario (or the first of --scenarios: "
        "fanout, single or connect) instead of running the benchmark",
    )
    args = parser.parse_args(argv)
    if args.python_gc32:
        os.environ[GC32_PYTHON_ENV] = args.python_gc32
    if args.profile:
        scenario = (args.scenarios or ["fanout"])[0]
        report = profile(CONFIGS_BY_NAME[args.profile], args.out, scenario)
        print(report.read_text())
        print(f"written to {report}")
        return 0
    configs = (
        [CONFIGS_BY_NAME[name] for name in args.configs] if args.configs else default_configs()
    )
    started = time.perf_counter()
    results = run(configs, quick=args.quick, scenarios=args.scenarios)
    paths = write(results, args.out)
    print_targets(results)
    print(
        f"wall time {time.perf_counter() - started:.0f} s; written: "
        + ", ".join(str(path) for path in paths.values())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
