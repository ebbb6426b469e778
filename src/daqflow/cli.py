"""The ``daqflow`` command: ``demo`` and ``graph`` (``daqflow COMMAND --help``)."""

from __future__ import annotations

import argparse
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path

from .core import GraphError, Stream, build_graph, run
from .core.capture import Captured, capturing

EXIT_INTERRUPTED = 130


def _demo(args: argparse.Namespace) -> int:
    from . import demo

    sinks = demo.build(rate=args.rate, chunk=args.chunk, seed=args.seed)
    print(f"daqflow demo: simulated ADC at {args.rate / 1e6:g} MS/s for {args.duration:g} s "
          "(Ctrl-C stops)", file=sys.stderr, flush=True)
    report = run(*sinks, duration=args.duration, progress=args.progress)
    print(report)
    print(demo.summary(dict(report.results)))
    return EXIT_INTERRUPTED if report.stopped_by == "interrupt" else 0


def _graph(args: argparse.Namespace) -> int:
    sinks = graph_of_script(args.script)
    dot = build_graph(sinks, require_sinks=False).to_dot()
    if args.output:
        Path(args.output).write_text(dot)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(dot)
    return 0


def graph_of_script(path: str) -> tuple[Stream, ...]:
    """The sinks a script runs, found by executing it with every run call intercepted.

    If the script never calls run/start/iterate, its module-level sink streams are used.
    """
    if not Path(path).is_file():
        raise SystemExit(f"daqflow graph: no such file: {path}")
    try:
        with capturing():
            namespace = runpy.run_path(path, run_name="__main__")
    except Captured as captured:
        return captured.sinks
    sinks = tuple(v for v in namespace.values() if isinstance(v, Stream) and v.kind == "sink")
    if not sinks:
        raise SystemExit(f"daqflow graph: {path} built no graph (no run() call, no sink streams)")
    return sinks


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="daqflow",
        description="Real-time data acquisition and signal processing on asyncio.",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="run the demo graph on a simulated ADC and print the report",
        description="Simulated ADC -> spectrum -> averaging and power meter; prints the report.",
    )
    demo.add_argument("--duration", type=float, default=3.0, help="seconds to run (default 3)")
    demo.add_argument("--rate", type=float, default=2e6, help="ADC sample rate in Hz (default 2e6)")
    demo.add_argument("--chunk", type=int, default=8192, help="samples per chunk (default 8192)")
    demo.add_argument("--seed", type=int, default=1, help="noise seed (default 1)")
    demo.add_argument("--progress", action="store_true", help="print a status line every second")
    demo.set_defaults(func=_demo)
    graph = commands.add_parser(
        "graph", help="print the DOT text of the graph a script builds",
        description="Execute FILE.py with run calls intercepted and print its graph as DOT.",
    )
    graph.add_argument("script", metavar="FILE.py", help="a script that builds and runs a graph")
    graph.add_argument("-o", "--output", help="write the DOT text to this file")
    graph.set_defaults(func=_graph)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except GraphError as exc:
        print(f"daqflow {args.command}: graph error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
