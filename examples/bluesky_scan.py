"""daqflow in bluesky plans: a scope counted, a spectrum analyzer scanned against a motor, and
a fly scan over a live spectrum stream; prints what the documents hold.

Run: python examples/bluesky_scan.py (needs the ``facility`` extra: bluesky, ophyd-async).
"""

import bluesky.plans as bp
import numpy as np
from bluesky.run_engine import RunEngine
from ophyd_async.core import init_devices
from ophyd_async.sim import SimMotor

import daqflow as df
from daqflow import dsp, io
from daqflow.bluesky import detector
from daqflow.instruments import SimScope, SimSpectrumAnalyzer


def main() -> None:
    RE = RunEngine(call_returns_result=True)
    docs: list[tuple[str, dict]] = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))

    with df.blocking(SimScope(points=500, timebase=1e-4)) as scope, \
            df.blocking(SimSpectrumAnalyzer(nfft=256)) as analyzer:
        # step scans: each trigger takes one trace (here the mean of 2)
        trace = detector(scope, name="scope", avg=2)
        spectrum = detector(analyzer, name="sa")
        with init_devices():
            motor = SimMotor()
        RE(bp.count([trace], 5))
        RE(bp.scan([spectrum], motor, 0.0, 1.0, 3))

    # a fly scan: kickoff starts the graph, complete waits for 50 spectra, collect gives them
    adc = io.simulated_adc(1e5, chunk=1024, tones=[(1e4, 1.0)], realtime=False)
    spectra = detector(dsp.to_db(dsp.spectrum(adc, 256)), name="spectra", count=50)
    RE(bp.fly([spectra]))

    for name, doc in docs:
        if name == "start":
            print(f"run {doc['plan_name']}")
        elif name == "descriptor":
            for key, info in doc["data_keys"].items():
                print(f"  {key}: shape {info['shape']} {info.get('units', '')}")
        elif name == "event":
            data = doc["data"]
            where = f" at motor {data['motor']:.2f} mm" if "motor" in data else ""
            if "sa" in data:
                print(f"  event {doc['seq_num']}{where}: peak at "
                      f"{data['sa-freqs'][np.argmax(data['sa'])]:.0f} Hz")
            else:
                print(f"  event {doc['seq_num']}: max {np.max(data['scope']):.2f} V")
        elif name == "event_page":
            peak = np.asarray(doc["data"]["spectra-freqs"][0])[np.argmax(doc["data"]["spectra"][0])]
            print(f"  {len(doc['seq_num'])} events, peak at {peak:.0f} Hz")
        elif name == "stop":
            print(f"  {doc['exit_status']}: {doc['num_events']}")


if __name__ == "__main__":
    main()
