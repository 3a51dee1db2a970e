"""``python -m benchmarks.instructions [--quick] [--python LABEL=PATH ...] [--out DIR]``:
instructions per operation on the hot paths, counted by callgrind.

Wall-clock figures move with whatever else the machine runs; the number of instructions
a piece of Python executes does not. Each hot path is measured beside its raw
counterpart (what a server without GraphQL does in its place), under every interpreter
given (by default graphql-core 3.3 on this one and, when its virtualenv exists,
graphql-core 3.2).

How a count is taken: one Python process under ``valgrind --tool=callgrind`` sets every
case up, then for each case runs ``N`` iterations and ``2N`` iterations, calling
``os.getppid()`` before each stretch and at the end. Callgrind is told to dump its
counters when that function is entered (``--dump-before``), so each stretch gets its own
count, and the count per operation is ``(count(2N) - count(N)) / N``: the loop's entry
and exit, the marker calls and everything before and after cancel out. The garbage
collector is run before each stretch so that neither inherits the other's garbage.
``PYTHONHASHSEED=0`` makes string hashing, and so dict layouts, the same in every run,
and ``setarch -R`` (address space randomization off) the addresses: two runs then give
the same counts to the instruction.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .configs import gc32_python, shown_path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

FULL_ITERATIONS = 2000
QUICK_ITERATIONS = 50
WARMUP = 200  # iterations before counting: Python 3.11 specializes its bytecode as it runs

Operation = Callable[[], object]

# -- the cases (run in the child process) -------------------------------------------------


def _schema() -> Any:
    """The benchmark's schema with the resolvers of benchmarks.apps.gqlwire_app."""
    from graphql import build_schema

    from .feed import SDL

    schema = build_schema(SDL)
    subscription = schema.subscription_type
    assert subscription is not None
    tick = subscription.fields["tick"]

    async def source(_root: Any, _info: Any, channel: str) -> AsyncIterator[Any]:
        yield {}  # never read here: the cases execute events themselves

    tick.subscribe = source
    tick.resolve = lambda event, _info, **_args: event
    return schema


def _event() -> dict[str, Any]:
    from .feed import PADDING

    return {"seq": 12345, "ts": 1765000000.123456, "payload": PADDING}


def _response_stream() -> Any:
    """gqlwire's response stream of ``tick { seq ts payload }``: what its subscriptions
    run every event through."""
    import asyncio  # here, not at the top: a run of the raw cases alone goes without it

    from graphql import parse

    from gqlwire.response_stream import open_response_stream

    from .feed import SUBSCRIPTION_QUERY

    kwargs = {
        "schema": _schema(),
        "document": parse(SUBSCRIPTION_QUERY),
        "variable_values": {"channel": "all"},
    }
    return asyncio.run(open_response_stream(kwargs))


def _execute_gqlwire() -> Operation:
    stream = _response_stream()
    event = _event()
    # What EventResults.__anext__ does with an event once its source gave it.
    execute, prepared = stream._execute, stream._prepared
    result = execute(prepared, event)
    if result.data != {"tick": event} or result.errors:
        raise RuntimeError(f"unexpected result: {result}")
    return lambda: execute(prepared, event)


def _execute_compiled() -> Operation | str:
    """The compiled executor, when this gqlwire has one; otherwise why not (a string)."""
    try:
        from gqlwire import compiled
    except ImportError:
        return "n/a: gqlwire.compiled is absent"
    compile_subscription = getattr(compiled, "compile_subscription", None)
    if compile_subscription is None:
        return "n/a: gqlwire.compiled has no compile_subscription"
    import inspect

    from graphql import parse

    from .feed import SUBSCRIPTION_QUERY

    available = {
        "schema": _schema(),
        "document": parse(SUBSCRIPTION_QUERY),
        "variable_values": {"channel": "all"},
        "variables": {"channel": "all"},
    }
    parameters = inspect.signature(compile_subscription).parameters
    try:
        executor = compile_subscription(
            **{name: value for name, value in available.items() if name in parameters}
        )
    except Exception as error:
        return f"n/a: compile_subscription failed: {type(error).__name__}: {error}"
    if executor is None:
        return "n/a: compile_subscription declined the benchmark's subscription"
    run = executor if callable(executor) else getattr(executor, "execute", None)
    if run is None:
        return f"n/a: do not know how to run a {type(executor).__name__}"
    event = _event()
    try:
        result = run(event)
    except Exception as error:
        return f"n/a: the compiled executor failed: {type(error).__name__}: {error}"
    data = getattr(result, "data", result)
    if isinstance(data, dict) and "data" in data:
        data = data["data"]
    if data != {"tick": event}:
        return f"n/a: unexpected result {result!r}"
    return lambda: run(event)


def _execute_raw() -> Operation:
    # A server without GraphQL puts the event in its response as it is.
    event = _event()
    return lambda: {"data": {"tick": event}}


def _machine() -> Any:
    """A graphql-transport-ws machine past the handshake, with operation "1" active."""
    from gqlwire.protocol.machine import ProtocolSettings
    from gqlwire.protocol.transport_ws import TransportWSMachine

    machine = TransportWSMachine(ProtocolSettings(keep_alive=None))
    machine.receive('{"type":"connection_init"}')
    machine.connect_result(None)
    machine.receive(_SUBSCRIBE)
    return machine


def _formatted() -> Any:
    from gqlwire.execution import format_result

    stream = _response_stream()
    return format_result(stream._execute(stream._prepared, _event()))


def _frame_gqlwire() -> Operation:
    from gqlwire.execution import format_result

    machine = _machine()
    stream = _response_stream()
    result = stream._execute(stream._prepared, _event())
    # A subscription of its own (not shared): its result formatted, then the machine
    # encodes the frame.
    return lambda: machine.operation_next("1", format_result(result))


def _frame_raw() -> Operation:
    import orjson

    message = {"id": "1", "type": "next", "payload": _formatted()}
    return lambda: orjson.dumps(message)


class _Transport:
    """Stands in for the adapter's socket: takes every frame at once, keeps the last."""

    def __init__(self) -> None:
        self.sent: deque[Any] = deque(maxlen=64)

    def send_nowait(self, frame: Any) -> bool:
        self.sent.append(frame)
        return True


def _tail() -> bytes:
    import orjson

    from gqlwire.protocol.machine import result_tail

    return result_tail(orjson.dumps(_formatted()))


class _Owner:
    """An outbox owner that nothing in the counted path calls."""

    def outbox_gone(self) -> None:
        pass

    def outbox_overflowed(self) -> None:
        pass


def _delivery_gqlwire() -> Operation:
    from gqlwire.outbox import Outbox, OverflowPolicy

    machine = _machine()
    outbox = Outbox(
        _Transport(),  # type: ignore[arg-type]
        1000,
        OverflowPolicy.CLOSE,
        owner=_Owner(),
    )
    tail = _tail()

    # Connection.deliver's path for one member of a group: the member's frame (its head
    # before the group's serialized tail), offered to its outbox.
    def deliver() -> object:
        frame = machine.encoded_next("1", tail)
        return frame is None or outbox.offer_result(frame)

    return deliver


def _delivery_raw() -> Operation:
    tail = _tail()
    head = b'{"id":"1","type":"next","payload":'
    sent: deque[bytes] = deque(maxlen=64)
    return lambda: sent.append(head + tail)


_SUBSCRIBE = (
    '{"id":"1","type":"subscribe","payload":{"query":"subscription Tick($channel: String!) '
    '{ tick(channel: $channel) { seq ts payload } }","variables":{"channel":"all"}}}'
)
_COMPLETE = '{"id":"1","type":"complete"}'


def _protocol_gqlwire() -> Operation:
    machine = _machine()
    machine.receive(_COMPLETE)

    def both() -> object:
        machine.receive(_SUBSCRIBE)
        return machine.receive(_COMPLETE)

    return both


def _protocol_raw() -> Operation:
    import orjson

    def both() -> object:
        orjson.loads(_SUBSCRIBE)
        return orjson.loads(_COMPLETE)

    return both


def _empty() -> Operation:
    # The loop's own share of an iteration (a call of a function that does nothing),
    # taken off every other count.
    return lambda: None


CASES: dict[str, Callable[[], Operation | str]] = {
    "empty": _empty,
    "execute-gqlwire": _execute_gqlwire,
    "execute-compiled": _execute_compiled,
    "execute-raw": _execute_raw,
    "frame-gqlwire": _frame_gqlwire,
    "frame-raw": _frame_raw,
    "delivery-gqlwire": _delivery_gqlwire,
    "delivery-raw": _delivery_raw,
    "protocol-gqlwire": _protocol_gqlwire,
    "protocol-raw": _protocol_raw,
}

# (hot path, what one operation is, gqlwire's case(s), the raw case)
PATHS: list[tuple[str, str, list[str], str]] = [
    (
        "execute",
        "one subscription event executed, `tick { seq ts payload }` (raw: the event put in "
        "`{data: {tick: event}}`)",
        ["execute-gqlwire", "execute-compiled"],
        "execute-raw",
    ),
    (
        "frame",
        "one `next` frame of a subscription of its own: result formatted, frame encoded "
        "(raw: `orjson.dumps` of the same message)",
        ["frame-gqlwire"],
        "frame-raw",
    ),
    (
        "delivery",
        "one shared event delivered to one member: its frame built from the group's "
        "serialized tail and offered to its outbox (raw: head + tail appended to a deque)",
        ["delivery-gqlwire"],
        "delivery-raw",
    ),
    (
        "protocol",
        "one `subscribe` and one `complete` message through the graphql-transport-ws "
        "machine (raw: `orjson.loads` of both)",
        ["protocol-gqlwire"],
        "protocol-raw",
    ),
]


def _mark() -> None:
    os.getppid()  # callgrind dumps its counters when this is entered (--dump-before)


def child(cases: list[str], iterations: int) -> None:
    """Runs in the process under callgrind: prints one JSON line naming, in order, the
    cases that were counted (each makes two stretches) and those that were not."""
    prepared: dict[str, Operation] = {}
    skipped: dict[str, str] = {}
    for name in cases:
        operation = CASES[name]()
        if isinstance(operation, str):
            skipped[name] = operation
            continue
        for _ in range(WARMUP):
            operation()
        prepared[name] = operation
    for operation in prepared.values():
        for count in (iterations, 2 * iterations):
            gc.collect()
            _mark()
            for _ in range(count):
                operation()
            _mark()
    print(json.dumps({"counted": list(prepared), "skipped": skipped}))


# -- the parent: callgrind runs and the report --------------------------------------------

MARKER_SYMBOL = "os_getppid*"


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # This checkout's gqlwire before any installed copy, and the benchmarks package.
    paths = [str(ROOT / "src"), str(ROOT)]
    env["PYTHONPATH"] = os.pathsep.join(
        paths + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    env["PYTHONHASHSEED"] = "0"
    return env


def _no_aslr() -> list[str]:
    """``setarch -R``, when there is one: the same addresses in every run, so that what
    depends on them (the order of objects hashed by identity, where the allocator puts
    things) does not change the count from one run to the next."""
    if shutil.which("setarch") is None:
        return []
    return ["setarch", platform.machine(), "-R"]


def _dump_total(path: Path) -> int:
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def count(python: str, cases: list[str], iterations: int, timeout: float = 900) -> dict[str, Any]:
    """One callgrind run of ``cases`` under ``python``: instructions per operation."""
    with tempfile.TemporaryDirectory(prefix="gqlwire-callgrind-") as work:
        out = Path(work) / "callgrind.out"
        done = subprocess.run(
            [
                *_no_aslr(),
                "valgrind",
                "--tool=callgrind",
                f"--dump-before={MARKER_SYMBOL}",
                f"--callgrind-out-file={out}",
                python,
                "-m",
                "benchmarks.instructions",
                "--child",
                ",".join(cases),
                "--iterations",
                str(iterations),
            ],
            cwd=ROOT,
            env=_child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-8:]
            raise RuntimeError(f"{python}: callgrind run failed: " + " | ".join(tail))
        report = json.loads(done.stdout.decode().strip().splitlines()[-1])
        # Dump k (k >= 1) holds what ran between the (k-1)-th and k-th marker; dump 1 is
        # everything up to the first marker. A stretch lies between two markers, and
        # the garbage collection before it between the previous stretch and it: the
        # stretches are the even dumps.
        dumps = sorted(
            (int(path.suffix[1:]), path)
            for path in Path(work).glob("callgrind.out.*")
            if path.suffix[1:].isdigit()
        )
        totals = [_dump_total(path) for _, path in dumps]
    stretches = totals[1::2]
    counted: list[str] = report["counted"]
    if len(stretches) != 2 * len(counted):
        raise RuntimeError(
            f"expected {2 * len(counted)} stretches, callgrind dumped {len(stretches)}"
        )
    results: dict[str, Any] = {}
    for index, name in enumerate(counted):
        once, twice = stretches[2 * index], stretches[2 * index + 1]
        results[name] = {
            "per_op": (twice - once) / iterations,
            "count_n": once,
            "count_2n": twice,
        }
    loop = results.get("empty", {}).get("per_op")
    for name, result in results.items():
        if loop is not None and name != "empty":
            result["per_op"] -= loop  # the loop's own instructions, not the operation's
    for name, reason in report["skipped"].items():
        results[name] = {"per_op": None, "note": reason}
    return results


def _interpreter(python: str) -> dict[str, str]:
    script = (
        "import json, platform, graphql, orjson; print(json.dumps({'python': "
        "platform.python_implementation() + ' ' + platform.python_version(), "
        "'graphql_core': graphql.version, 'orjson': orjson.__version__}))"
    )
    done = subprocess.run(
        [python, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    info: dict[str, str] = json.loads(done.stdout)
    return info


def default_pythons() -> dict[str, str]:
    """This interpreter, and the fan-out benchmark's graphql-core 3.2 one when there is
    one (``GQLWIRE_BENCH_PYTHON_GC32``, else ``.venvs/graphql-core-3.2``)."""
    pythons = {"graphql-core 3.3": sys.executable}
    gc32 = gc32_python()
    if gc32 is not None:
        pythons["graphql-core 3.2"] = gc32
    return pythons


def valgrind_version() -> str | None:
    if shutil.which("valgrind") is None:
        return None
    done = subprocess.run(["valgrind", "--version"], capture_output=True, text=True, timeout=30)
    return done.stdout.strip() or None


def measure(
    pythons: dict[str, str],
    iterations: int,
    runs: int,
    cases: list[str],
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    version = valgrind_version()
    if version is None:
        raise RuntimeError("valgrind is not installed (apt-get install -y valgrind)")
    meta: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "valgrind": version,
        "iterations": iterations,
        "runs": runs,
        "warmup": WARMUP,
        "cases": cases,
        "machine": f"{platform.machine()}, Linux {platform.release()}",
        "load_average_start": os.getloadavg(),
        "interpreters": {},
    }
    results: dict[str, list[dict[str, Any]]] = {}
    for label, python in pythons.items():
        meta["interpreters"][label] = {"path": shown_path(python), **_interpreter(python)}
        results[label] = []
        for run in range(runs):
            log(f"{label}: run {run + 1} of {runs} under callgrind ({python})")
            results[label].append(count(python, cases, iterations))
    meta["load_average_end"] = os.getloadavg()
    return {"meta": meta, "results": results}


def _per_op(runs: list[dict[str, Any]], case: str) -> list[float | None]:
    return [run.get(case, {}).get("per_op") for run in runs]


def _fmt(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "n/a"
    if len(set(round(v) for v in known)) == 1:
        return f"{known[0]:,.0f}"
    return " / ".join(f"{v:,.0f}" for v in known)


def markdown(data: dict[str, Any]) -> str:
    meta = data["meta"]
    labels = list(data["results"])
    lines = [
        "# Instructions per operation on the hot paths",
        "",
        f"- Date: {meta['date']}; {meta['valgrind']} (`--tool=callgrind`), {meta['machine']}",
        "- Interpreters: "
        + "; ".join(
            f"{label}: {info['python']}, graphql-core {info['graphql_core']}, "
            f"orjson {info['orjson']}"
            for label, info in meta["interpreters"].items()
        ),
        f"- Per operation: (count of {2 * meta['iterations']:,} iterations - count of "
        f"{meta['iterations']:,}) / {meta['iterations']:,}, after {meta['warmup']} "
        f"iterations of warm-up, less the loop's own {_loop(data)} instructions per "
        f"iteration (a call of an empty function); {meta['runs']} callgrind run(s) per "
        "interpreter, in separate processes: a single figure is what every run gave, "
        "rounded to the instruction; figures that differ are shown apart.",
        "- Instruction counts do not depend on the machine's load (load average "
        f"{_loads(meta['load_average_start'])} at the start, "
        f"{_loads(meta['load_average_end'])} at the end); they are not time: a cache "
        "miss costs one instruction here and many cycles on the CPU.",
        "",
        "| hot path | what one operation is | "
        + " | ".join(
            f"{label}: gqlwire | {label}: raw | {label}: gqlwire ÷ raw" for label in labels
        )
        + " |",
        "|---|---|" + "---:|---:|---:|" * len(labels),
    ]
    for path, what, ours, raw in PATHS:
        for case in ours:
            cells = []
            for label in labels:
                runs = data["results"][label]
                mine, theirs = _per_op(runs, case), _per_op(runs, raw)
                ratio = f"{mine[0] / theirs[0]:.1f}" if mine[0] is not None and theirs[0] else "n/a"
                cells += [_fmt(mine), _fmt(theirs), ratio]
            name = path if case.endswith("-gqlwire") else f"{path} ({case.split('-', 1)[1]})"
            lines.append(f"| {name} | {what} | " + " | ".join(cells) + " |")
    notes = sorted(
        {
            f"- `{case}` ({label}): {result['note']}"
            for label, runs in data["results"].items()
            for run in runs
            for case, result in run.items()
            if result.get("note")
        }
    )
    if notes:
        lines += ["", "Not counted:", "", *notes]
    lines += [
        "",
        "`python -m benchmarks.instructions` ran this; see benchmarks/README.md.",
        "",
    ]
    return "\n".join(lines)


def _loop(data: dict[str, Any]) -> str:
    counts = [
        run.get("empty", {}).get("per_op") for runs in data["results"].values() for run in runs
    ]
    return _fmt(counts)


def _loads(values: Any) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def write(data: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "instructions.json", out_dir / "instructions.md"]
    paths[0].write_text(json.dumps(data, indent=2) + "\n")
    paths[1].write_text(markdown(data))
    return paths


def _python_option(value: str) -> tuple[str, str]:
    label, sep, path = value.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError("expected LABEL=PATH")
    return label, path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"N = {QUICK_ITERATIONS}, one run")
    parser.add_argument("--iterations", type=int, help=f"N (default {FULL_ITERATIONS})")
    parser.add_argument("--runs", type=int, help="callgrind runs per interpreter (default 2)")
    parser.add_argument(
        "--python",
        type=_python_option,
        action="append",
        help="LABEL=PATH of an interpreter with gqlwire's dependencies (repeatable; default: "
        "this one as 'graphql-core 3.3', and .venvs/graphql-core-3.2 when it exists)",
    )
    parser.add_argument(
        "--cases",
        help=f"comma-separated, from: {', '.join(CASES)} (default: all; 'empty' is always "
        "counted, it is taken off the others)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="output directory")
    parser.add_argument(
        "--render", type=Path, metavar="JSON", help="write the Markdown of earlier results again"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.render:
        (args.out / "instructions.md").write_text(markdown(json.loads(args.render.read_text())))
        return 0
    iterations = args.iterations or (QUICK_ITERATIONS if args.quick else FULL_ITERATIONS)
    if args.child:
        child(args.child.split(","), iterations)
        return 0
    runs = args.runs or (1 if args.quick else 2)
    pythons = dict(args.python) if args.python else default_pythons()
    cases = list(CASES)
    if args.cases:
        wanted = {name.strip() for name in args.cases.split(",") if name.strip()}
        unknown = wanted - CASES.keys()
        if unknown:
            parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
        cases = [name for name in CASES if name in wanted or name == "empty"]
    data = measure(pythons, iterations, runs, cases)
    paths = write(data, args.out)
    print(markdown(data))
    print("written: " + ", ".join(str(path) for path in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
