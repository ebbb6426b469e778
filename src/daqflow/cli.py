"""The ``daqflow`` command: ``demo``, ``record``, ``recover``, ``devices``, ``inspect``, ``graph``, ``top``,
``serve`` (``daqflow COMMAND --help``)."""

from __future__ import annotations

import argparse
import asyncio
import runpy
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .core import BlockError, GraphError, Stream, build_graph, run
from .core.capture import Captured, capturing
from .core.driver import drive, make_executor, signals_held
from .core.live import ProgressObserver

EXIT_INTERRUPTED = 130


def _demo(args: argparse.Namespace) -> int:
    from . import demo

    if args.fm is not None:
        return _demo_fm(args)
    if args.rate is None:
        args.rate = 2e6
    if args.output is None:
        args.output = "daqflow-demo.sigmf-meta"
    if args.device is not None or args.gain is not None:
        raise ValueError("--device and --gain go with --fm FREQ_HZ (the FM receiver)")
    if args.instruments:
        from . import demo_instruments

        demo_instruments.run()
        return 0
    if args.gui:
        from . import demo_gui

        return demo_gui.main(args)  # runs until the window is closed, or for --duration
    if args.duration is None:
        args.duration = 3.0
    record = None if args.no_record else args.output
    sinks = demo.build(rate=args.rate, chunk=args.chunk, seed=args.seed, record=record)
    print(f"daqflow demo: simulated ADC at {args.rate / 1e6:g} MS/s for {args.duration:g} s "
          "(Ctrl-C stops)", file=sys.stderr, flush=True)
    with signals_held():
        report = run(*sinks, duration=args.duration, progress=args.progress)
    print(report)
    print(demo.summary(dict(report.results)))
    return EXIT_INTERRUPTED if report.stopped_by == "interrupt" else 0


def _demo_fm(args: argparse.Namespace) -> int:
    from . import demo_fm

    if args.instruments or args.gui:
        raise ValueError("--fm runs alone: not with --instruments or --gui")
    if args.rate is None:
        args.rate = 2.4e6
    if args.duration is None and args.device is None:
        args.duration = 3.0  # the simulated station: a short demo, like the plain one
    sinks = demo_fm.build(args.fm, device=args.device, rate=args.rate, gain=args.gain,
                          output=args.output, chunk=args.chunk, seed=args.seed)
    source = f"the radio {args.device!r}" if args.device else "a simulated station (1 kHz tone)"
    target = args.output or "the sound card"
    how_long = f"for {args.duration:g} s" if args.duration is not None else "until Ctrl-C"
    print(f"daqflow demo --fm: {args.fm / 1e6:.4f} MHz from {source} at {args.rate / 1e6:g} MS/s "
          f"to {target} {how_long} (Ctrl-C stops)", file=sys.stderr, flush=True)
    with signals_held():
        report = run(*sinks, duration=args.duration, progress=args.progress)
    print(report)
    print(demo_fm.summary(dict(report.results), args.fm))
    return EXIT_INTERRUPTED if report.stopped_by == "interrupt" else 0


def _writer_for(path: str) -> tuple[str, object]:
    from . import io

    name = Path(path).name
    if name.endswith((".sigmf-meta", ".sigmf-data", ".sigmf")):
        return "SigMF", io.sigmf_writer
    if name.endswith((".h5", ".hdf5")):
        return "HDF5", io.hdf5_writer
    if name.endswith(".npy"):
        return "npy", io.npy_writer
    raise SystemExit(f"daqflow record: say the format by the extension of {path!r}: "
                     ".sigmf-meta, .h5 or .npy")


def _record(args: argparse.Namespace) -> int:
    from . import dsp, io

    kind, writer = _writer_for(args.output)
    if args.device is not None:
        if args.tone or args.fast or args.center_freq is not None:
            raise ValueError("--tone, --fast and --center-freq are for the simulated ADC; with "
                             "--device the radio is tuned with --freq HZ")
        if args.freq is None:
            raise ValueError(f"--device {args.device!r} needs --freq HZ (the centre frequency)")
        source = io.soapy_source(device=args.device, rate=args.rate, freq=args.freq, gain=args.gain,
                                 antenna=args.antenna, chunk=args.chunk)
        origin = f"the device {args.device!r} at {args.freq / 1e6:g} MHz"
    else:
        if args.gain is not None or args.antenna is not None:
            raise ValueError("--gain and --antenna go with --device ARGS (a SoapySDR radio)")
        tones = [(float(f), float(a)) for f, a in (t.split(":") for t in args.tone)] or None
        center = args.center_freq if args.center_freq is not None else args.freq
        chunk = 8192 if args.chunk is None else args.chunk
        source = io.simulated_adc(args.rate, chunk=chunk, tones=tones, noise=args.noise,
                                  dtype=args.dtype, realtime=not args.fast, seed=args.seed,
                                  center_freq=center)
        origin = "the simulated ADC"
    if args.samples is not None:
        source = dsp.head(source, args.samples)
    if kind == "SigMF":  # says which device made it (core:description)
        gain = "" if args.gain is None else f", gain {args.gain:g} dB"
        sink = writer(source, args.output, name="recording",  # type: ignore[operator]
                      description=f"daqflow record: {origin} at {args.rate:g} Hz{gain}")
    else:
        sink = writer(source, args.output, name="recording")  # type: ignore[operator]
    print(f"daqflow record: {kind} from {origin} at {args.rate:g} Hz into {args.output} "
          "(Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        with signals_held():
            report = run(sink, duration=args.duration, progress=args.progress)
    except BlockError as exc:  # say what the file holds (a full disk: how much was saved)
        kept = exc.report.results.get("recording") if exc.report is not None else None
        kept = kept or getattr(exc.cause, "result", None)
        if kept is None:
            raise
        if exc.report is not None:
            print(exc.report)
        print("recorded:", ", ".join(f"{k}={v}" for k, v in kept.items() if k != "paths"))
        print(f"daqflow record: {exc}", file=sys.stderr)
        return 1
    print(report)
    result = report.results.get("recording")
    if result is None:  # cancelled before it could say (a third Ctrl-C)
        print(f"recorded: the writer was cancelled before it reported; what reached the disk is "
              f"in {args.output} or its .partial file")
    else:
        print("recorded:", ", ".join(f"{k}={v}" for k, v in result.items() if k != "paths"))
    return EXIT_INTERRUPTED if report.stopped_by == "interrupt" else 0


def _devices(args: argparse.Namespace) -> int:
    """SoapySDR radios, then sound cards; a missing library is one line, and the other list
    still prints."""
    from . import io

    for title, lister in (("SoapySDR devices", io.soapy_devices), ("audio devices", io.audio_devices)):
        print(f"{title}:")
        try:
            found = lister()
        except ImportError as exc:
            print(f"  (not available: {exc})")
            continue
        if not found:
            print("  none found")
        for info in found:
            print("  " + str(info).replace("\n", "\n  "))
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from . import io

    try:
        info = io.inspect_recording(args.file, dtype=args.dtype, rate=args.rate, dataset=args.dataset)
    except (OSError, ValueError) as exc:
        print(f"daqflow inspect: {exc}", file=sys.stderr)
        return 1
    print(info)
    for gap in info.gaps[:20]:
        print(f"  gap at sample {gap.position}: {gap.describe()}")
    if len(info.gaps) > 20:
        print(f"  ... {len(info.gaps) - 20} more gaps")
    if args.plot:
        from .plot import plot_recording  # the face joins io (reading) and plot (drawing)

        plot_recording(info, args.plot, dataset=args.dataset)
        print(f"plot: {args.plot}")
    return 0


def _recover(args: argparse.Namespace) -> int:
    """Each PATH recovered, or one line saying why not (exit 1 if any was not)."""
    from . import io

    status = 0
    for path in args.paths:
        try:
            print(io.recover(path))
        except (OSError, ValueError) as exc:
            print(f"daqflow recover: {exc}", file=sys.stderr)
            status = 1
    return status


def _graph(args: argparse.Namespace) -> int:
    sinks = graph_of_script(args.script)
    dot = build_graph(sinks, require_sinks=False).to_dot()
    if args.output:
        Path(args.output).write_text(dot)
        print(f"wrote {args.output}", file=sys.stderr)
    if args.svg:
        return _render_svg(dot, Path(args.svg))
    if not args.output:
        sys.stdout.write(dot)
    return 0


def _render_svg(dot: str, svg: Path) -> int:
    """SVG with graphviz's ``dot`` if installed, else the DOT text beside it (exit status 0)."""
    exe = shutil.which("dot")
    if exe is None:
        text = svg.with_suffix(".dot")
        if text == svg:
            text = svg.with_name(svg.name + ".dot")
        text.write_text(dot)
        print(f"daqflow graph: graphviz's 'dot' program is not installed (e.g. apt install graphviz), "
              f"so no SVG: wrote the DOT text to {text} (render it with: dot -Tsvg {text} -o {svg})",
              file=sys.stderr)
        return 0
    done = subprocess.run([exe, "-Tsvg", "-o", str(svg)], input=dot, text=True,
                          capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        print(f"daqflow graph: dot failed ({done.returncode}): {done.stderr.strip()}", file=sys.stderr)
        return 1
    print(f"wrote {svg}", file=sys.stderr)
    return 0


def _top(args: argparse.Namespace) -> int:
    if not args.interval > 0:
        raise ValueError(f"--interval must be > 0 seconds, got {args.interval!r}")
    if args.duration is not None and not args.duration > 0:
        raise ValueError(f"--duration must be > 0 seconds, got {args.duration!r}")
    if (args.script is None) == (args.attach is None):
        raise ValueError("give either FILE.py (run its graph here) or --attach URL (watch a "
                         "graph that daqflow serve runs elsewhere)")
    if args.attach is not None:
        return _attach(args)
    sinks = graph_of_script(args.script, command="top")
    executor = make_executor(build_graph(sinks))
    progress = ProgressObserver(args.interval, diagnosis=True)
    print(f"daqflow top: running the graph of {args.script} (Ctrl-C stops)", file=sys.stderr,
          flush=True)
    with signals_held(), asyncio.Runner() as runner:
        report = runner.run(drive(executor, args.duration, observers=[progress], signals=True))
    print(report)
    print(f"diagnosis: {report.diagnose()}")
    return EXIT_INTERRUPTED if report.stopped_by == "interrupt" else 0


def _attach(args: argparse.Namespace) -> int:
    from .net.attach import GraphGone, attach

    print(f"daqflow top: watching the graph at {args.attach} (Ctrl-C stops watching, not the "
          "graph)", file=sys.stderr, flush=True)
    try:
        with asyncio.Runner() as runner:
            report = runner.run(attach(args.attach, token=args.token, interval=args.interval))
    except GraphGone as exc:
        print(f"daqflow top: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    print(report)
    print(f"diagnosis: {report.diagnose()}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    if args.duration is not None and not args.duration > 0:
        raise ValueError(f"--duration must be > 0 seconds, got {args.duration!r}")
    sinks = graph_of_script(args.script, command="serve")
    executor = make_executor(build_graph(sinks))
    serve = {"host": args.host, "port": args.port, "token": args.token}
    with signals_held(), asyncio.Runner() as runner:
        report = runner.run(drive(executor, args.duration, serve=serve, signals=True))
    print(report)
    return EXIT_INTERRUPTED if report.stopped_by == "interrupt" else 0


def graph_of_script(path: str, command: str = "graph") -> tuple[Stream, ...]:
    """The sinks a script runs, found by executing it with every run call intercepted.

    If the script never calls run/start/iterate, its module-level sink streams are used.
    The script's folder goes first on ``sys.path`` (as with ``python FILE.py``).
    """
    if not Path(path).is_file():
        raise SystemExit(f"daqflow {command}: no such file: {path}")
    folder = str(Path(path).resolve().parent)
    if folder not in sys.path:  # as `python FILE.py` does: modules beside it import
        sys.path.insert(0, folder)
    try:
        with capturing():
            namespace = runpy.run_path(path, run_name="__main__")
    except Captured as captured:
        return captured.sinks
    sinks = tuple(v for v in namespace.values() if isinstance(v, Stream) and v.kind == "sink")
    if not sinks:
        raise SystemExit(f"daqflow {command}: {path} built no graph (no run() call, no sink streams)")
    return sinks


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="daqflow",
        description="Real-time data acquisition and signal processing on asyncio.",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="run the demo graph on a simulated ADC and print the report",
        description="Simulated ADC -> spectrum -> averaging and power meter; prints the report. "
                    "With --fm FREQ_HZ: an FM broadcast receiver to the sound card (or --output "
                    "x.wav), from the radio --device ARGS or, without it, a simulated station.",
    )
    demo.add_argument("--duration", type=float, default=None,
                      help="seconds to run (default 3; with --gui: until the window is closed; "
                           "with --fm --device: until Ctrl-C)")
    demo.add_argument("--rate", type=float, default=None,
                      help="ADC sample rate in Hz (default 2e6; with --fm 2.4e6)")
    demo.add_argument("--chunk", type=int, default=8192, help="samples per chunk (default 8192)")
    demo.add_argument("--seed", type=int, default=1, help="noise seed (default 1)")
    demo.add_argument("--progress", action="store_true", help="print a status line every second")
    demo.add_argument("--output", default=None,
                      help="SigMF recording of the tuned band (default daqflow-demo.sigmf-meta); "
                           "with --fm: a .wav file for the audio instead of the sound card")
    demo.add_argument("--no-record", action="store_true", help="do not write the recording")
    demo.add_argument("--instruments", action="store_true",
                      help="the simulated instruments instead: concurrent acquisitions, then SCPI "
                           "over PyVISA's simulated backend (no hardware needed)")
    demo.add_argument("--gui", action="store_true",
                      help="live spectrum, waterfall and time trace in a window, with a slider for "
                           "the mixer frequency (needs the 'gui' extra)")
    demo.add_argument("--fm", type=float, default=None, metavar="FREQ_HZ",
                      help="FM broadcast receiver tuned to FREQ_HZ (e.g. 99.5e6): audio to the sound "
                           "card, or to --output x.wav")
    demo.add_argument("--device", default=None, metavar="ARGS",
                      help="with --fm: SoapySDR args of the radio (e.g. driver=rtlsdr; see daqflow "
                           "devices); without it a simulated station (no hardware)")
    demo.add_argument("--gain", type=float, default=None,
                      help="with --fm --device: radio gain in dB (default: automatic)")
    demo.set_defaults(func=_demo)
    record = commands.add_parser(
        "record", help="record a radio or the simulated ADC into SigMF, HDF5 or .npy",
        description="Record a SoapySDR radio (--device ARGS --freq HZ) or the simulated ADC (real "
                    "time unless --fast) into OUTPUT; the format comes from the extension "
                    "(.sigmf-meta, .h5, .npy). Ctrl-C stops in order.",
    )
    record.add_argument("output", metavar="OUTPUT", help="file to write")
    record.add_argument("--rate", type=float, default=2e6, help="sample rate in Hz (default 2e6)")
    record.add_argument("--duration", type=float, default=None, help="seconds (default: until Ctrl-C)")
    record.add_argument("--samples", type=int, default=None, help="stop after this many samples")
    record.add_argument("--chunk", type=int, default=None,
                        help="samples per chunk (default 8192; from a device about 20 ms)")
    record.add_argument("--device", default=None, metavar="ARGS",
                        help="SoapySDR args of the radio to record (e.g. driver=rtlsdr; see daqflow "
                             "devices); default: the simulated ADC")
    record.add_argument("--freq", type=float, default=None,
                        help="centre frequency in Hz (needed with --device; else as --center-freq)")
    record.add_argument("--gain", type=float, default=None,
                        help="radio gain in dB (default: automatic)")
    record.add_argument("--antenna", default=None, help="radio antenna (daqflow devices lists them)")
    record.add_argument("--tone", action="append", default=[], metavar="HZ:AMPLITUDE",
                        help="a tone (repeatable; default one at rate/8)")
    record.add_argument("--noise", type=float, default=0.01, help="noise std deviation (default 0.01)")
    record.add_argument("--dtype", default="complex64", help="sample type (default complex64)")
    record.add_argument("--center-freq", type=float, default=None, help="RF centre frequency in Hz")
    record.add_argument("--seed", type=int, default=None, help="noise seed")
    record.add_argument("--fast", action="store_true", help="as fast as possible, not in real time")
    record.add_argument("--progress", action="store_true", help="print a status line every second")
    record.set_defaults(func=_record)
    devices = commands.add_parser(
        "devices", help="list SoapySDR radios and sound cards with what they support",
        description="List SoapySDR devices and PortAudio sound cards: the args to pass as "
                    "--device, sample rates, frequency range, gains, channels, antennas.",
    )
    devices.set_defaults(func=_devices)
    inspect = commands.add_parser(
        "inspect", help="say what a recording holds (and plot it)",
        description="Format, dtype, rate, samples, duration and gaps of a SigMF, HDF5, .npy or raw file.",
    )
    inspect.add_argument("file", metavar="FILE", help="the recording")
    inspect.add_argument("--plot", metavar="OUT.png", help="draw spectrum and time trace (matplotlib)")
    inspect.add_argument("--dtype", default=None, help="sample type of a raw file (e.g. complex64)")
    inspect.add_argument("--rate", type=float, default=None, help="sample rate of a raw file, Hz")
    inspect.add_argument("--dataset", default="signal", help="HDF5 dataset (default signal)")
    inspect.set_defaults(func=_inspect)
    recover = commands.add_parser(
        "recover", help="finish a recording whose writer was killed (from its .partial files)",
        description="Turn what a killed writer left (NAME.sigmf-data.partial with its "
                    "NAME.sigmf-meta.partial, NAME.npy.partial, NAME.wav.partial, or an HDF5 file "
                    "still marked open) into a valid recording of the samples on disk, under its "
                    "final name and marked as recovered (daqflow inspect says so). Refuses if the "
                    "final name exists or a running process still writes the file.",
    )
    recover.add_argument("paths", nargs="+", metavar="PATH",
                         help="the recording: its final name or its .partial file")
    recover.set_defaults(func=_recover)
    graph = commands.add_parser(
        "graph", help="print the DOT text of the graph a script builds (or draw it as SVG)",
        description="Execute FILE.py with run calls intercepted and print its graph as DOT "
                    "(edges labelled with FIFO policy and length), or draw it with --svg.",
    )
    graph.add_argument("script", metavar="FILE.py", help="a script that builds and runs a graph")
    graph.add_argument("-o", "--output", help="write the DOT text to this file")
    graph.add_argument("--svg", metavar="OUT.svg",
                       help="draw the graph into OUT.svg with graphviz's dot program; without it, "
                            "write the DOT text to OUT.dot and say so")
    graph.set_defaults(func=_graph)
    top_ = commands.add_parser(
        "top", help="run a script's graph with a live table of per-block figures",
        description="Execute FILE.py with its run call intercepted, run that graph here with a "
                    "live table on stderr (per block items/s, MS/s, busy %, FIFO fill, drops, "
                    "overflow; one plain line per interval when stderr is not a terminal), then "
                    "print the report. Ctrl-C stops in order. With --attach URL it watches a graph "
                    "that 'daqflow serve' runs elsewhere instead.",
    )
    top_.add_argument("script", metavar="FILE.py", nargs="?",
                      help="a script that builds and runs a graph")
    top_.add_argument("--attach", metavar="URL", default=None,
                      help="watch the graph that 'daqflow serve' (or serve=) runs at URL instead")
    top_.add_argument("--token", default=None, help="the bearer token of that server (--attach)")
    top_.add_argument("--interval", type=float, default=1.0,
                      help="seconds between updates (default 1)")
    top_.add_argument("--duration", type=float, default=None,
                      help="stop after this many seconds (default: until the sources end or Ctrl-C)")
    top_.set_defaults(func=_top)
    serve = commands.add_parser(
        "serve", help="run a script's graph with an HTTP control API and a live page",
        description="Execute FILE.py with its run call intercepted and run that graph here with "
                    "a control server: the page at http://HOST:PORT/ (graph, live figures, a "
                    "control per Param and instrument setting, the web_view sinks), and the JSON "
                    "API of docs/control.md (GET /report, /params, PUT /params/NAME, POST /stop, "
                    "GET /graph). Prints the report when the graph ends; POST /stop or Ctrl-C "
                    "stops it in order.",
    )
    serve.add_argument("script", metavar="FILE.py", help="a script that builds and runs a graph")
    serve.add_argument("--port", type=int, default=8765, help="TCP port (default 8765; 0: a free one)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; anything else needs --token)")
    serve.add_argument("--token", default=None, help="bearer token every request must carry")
    serve.add_argument("--duration", type=float, default=None,
                       help="stop after this many seconds (default: until the sources end, "
                            "POST /stop or Ctrl-C)")
    serve.set_defaults(func=_serve)
    return top


def _interrupt_once(signum: int, frame: object) -> None:
    """SIGINT outside a run (starting up, ending): one KeyboardInterrupt, then Ctrl-C is
    ignored so the orderly path that follows is not itself interrupted."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    guard = (threading.current_thread() is threading.main_thread()
             and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if guard:
        signal.signal(signal.SIGINT, _interrupt_once)  # a run installs its own meanwhile
    try:
        return _main(argv)
    finally:
        if guard:  # as the command, the process is ending: a late Ctrl-C changes nothing
            late = signal.SIG_IGN if argv is None else signal.default_int_handler
            signal.signal(signal.SIGINT, late)


def _main(argv: Sequence[str] | None) -> int:
    try:
        args = parser().parse_args(argv)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    try:
        return args.func(args)
    except KeyboardInterrupt:  # before the graph's own Ctrl-C handling began, or after it ended
        print(f"daqflow {args.command}: interrupted before the graph ran (or after it ended): "
              "nothing is left running or half written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except GraphError as exc:
        print(f"daqflow {args.command}: graph error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, ImportError) as exc:  # bad paths and parameters, missing
        # libraries (SoapySDR, PortAudio: the message says what to install), found before running
        print(f"daqflow {args.command}: {exc}", file=sys.stderr)
        return 2
    except BlockError as exc:  # a block failed while running: the graph stopped in order
        if exc.report is not None:
            print(exc.report)
        print(f"daqflow {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
