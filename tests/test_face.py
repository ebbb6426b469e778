"""The public face: exported names are a contract."""

import daqflow as df
import daqflow.io
import daqflow.testing

PUBLIC = {
    "BlockError", "BlockReport", "Chunk", "EdgeReport", "GraphError", "Param", "Process", "Report",
    "Running",
    "Stream", "__version__", "arun", "block", "blocking", "collect", "from_iterable",
    "iterate", "null_sink", "param", "run", "start", "to_dot", "validate",
}


def test_all_is_pinned():
    assert set(df.__all__) == PUBLIC
    for name in df.__all__:
        assert getattr(df, name) is not None


def test_subpackage_names():
    assert set(daqflow.io.__all__) == {
        "RecordingInfo", "Walker", "file_source", "hdf5_source", "hdf5_writer", "inspect_recording",
        "npy_writer", "recover", "sigmf_source", "sigmf_writer", "simulated_adc",
        "tiff_source", "tiff_writer", "walker", "wav_source", "wav_writer",
        "DeviceInfo", "audio_devices", "audio_sink", "audio_source", "soapy_devices", "soapy_sink",
        "soapy_source", "read_hdf5", "read_sigmf", "read_wav", "write_hdf5", "write_sigmf",
        "write_wav", "epics_sink", "epics_source", "tango_source",
    }
    assert set(daqflow.testing.__all__) == {"run_block", "chunks"}


def test_instruments_names():
    import daqflow.instruments

    assert set(daqflow.instruments.__all__) == {
        "FunctionGenerator", "Instrument", "InstrumentError", "Multimeter", "Setting",
        "SimNetworkAnalyzer", "SimScope", "SimSpectrumAnalyzer", "VisaInstrument", "sim_backend",
        "visa_poll",
    }


def test_dsp_names():
    import daqflow.dsp

    blocks = {
        "average", "calibrate", "decimate", "demod_am", "demod_fm", "fft", "fir", "fir_decimate",
        "head", "iir", "magnitude2", "mix", "moving_average", "rechunk", "resample", "skip",
        "spectrum", "throttle", "to_db", "trigger", "waterfall", "agc", "deemphasis", "squelch",
    }
    helpers = {"bandpass", "highpass", "lowpass", "resample_taps", "find_peaks", "Taps"}
    kernels = {"FftState", "FirState", "FrameAverager", "IirState", "MovingAverageState",
               "NcoState", "SpectrumState", "TriggerState"}
    assert set(daqflow.dsp.__all__) == blocks | helpers | kernels


def test_net_names():
    import daqflow.net

    assert set(daqflow.net.__all__) == {"ControlServer", "http_source", "serve", "serve_epics",
                                        "serve_tango", "web_view", "zmq_sink", "zmq_source"}
    for name in daqflow.net.__all__:
        assert callable(getattr(daqflow.net, name))


def test_core_imports_no_optional_dependency():
    import subprocess
    import sys

    code = (
        "import sys, daqflow, daqflow.io, daqflow.dsp, daqflow.instruments, daqflow.testing, "
        "daqflow.net; "
        "bad = {'h5py','sigmf','PySide6','qasync','pyqtgraph','aiohttp','zmq','pyvisa','dask',"
        "'matplotlib','rich','sounddevice','soundfile','SoapySDR','_SoapySDR'} & set(sys.modules); "
        "print(sorted(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
