"""daqflow.io: sources and sinks that talk to the outside.

Recordings (extra ``io``: h5py, sigmf, tifffile, soundfile): `sigmf_writer`/`sigmf_source`,
`hdf5_writer`/`hdf5_source` (SWMR: readable while it grows), `tiff_writer`/`tiff_source`
and `walker`, `wav_writer`/`wav_source` (int16, int32, float32; gaps listed in the file's
comment), `npy_writer`, raw `file_source` (GNU Radio file_sink output), and
`inspect_recording`; arrays to and from those files in one call, no graph (`write_sigmf` /
`read_sigmf`, `write_hdf5` / `read_hdf5`, `write_wav` / `read_wav`). The embedded default
source: `simulated_adc`. Devices: SDR radios through SoapySDR (`soapy_source`, `soapy_sink`,
`soapy_devices`; the OS's SoapySDR module) and sound cards through PortAudio (`audio_source`,
`audio_sink`, `audio_devices`; extra ``audio``); EPICS PVs over Channel Access (`epics_source`,
`epics_sink`; caproto, extra ``facility``); a Tango attribute (`tango_source`; pytango,
extra ``facility``). Optional libraries are imported only when a
block that needs them is used.
"""

from .arrays import read_hdf5, read_sigmf, read_wav, write_hdf5, write_sigmf, write_wav
from .audio import audio_devices, audio_sink, audio_source
from .devices import DeviceInfo
from .epics import epics_sink, epics_source
from .hdf5_files import hdf5_source, hdf5_writer
from .inspection import RecordingInfo, inspect_recording
from .raw_files import file_source, npy_writer
from .recovery import recover
from .sigmf_files import sigmf_writer
from .sigmf_reading import sigmf_source
from .simulated import simulated_adc
from .soapy import soapy_sink, soapy_source
from .soapy_radio import soapy_devices
from .tango import tango_source
from .tiff_files import Walker, tiff_source, tiff_writer, walker
from .wav_files import wav_source, wav_writer

__all__ = [
    "DeviceInfo",
    "RecordingInfo",
    "Walker",
    "audio_devices",
    "audio_sink",
    "audio_source",
    "epics_sink",
    "epics_source",
    "file_source",
    "hdf5_source",
    "hdf5_writer",
    "inspect_recording",
    "npy_writer",
    "read_hdf5",
    "read_sigmf",
    "read_wav",
    "recover",
    "sigmf_source",
    "sigmf_writer",
    "simulated_adc",
    "soapy_devices",
    "soapy_sink",
    "soapy_source",
    "tango_source",
    "tiff_source",
    "tiff_writer",
    "walker",
    "wav_source",
    "wav_writer",
    "write_hdf5",
    "write_sigmf",
    "write_wav",
]


def __getattr__(name: str) -> object:
    """Names that moved out of io: one line saying where they are now."""
    if name == "plot_recording":  # io reads, plot draws: io does not import plot
        raise AttributeError("daqflow.io.plot_recording moved to daqflow.plot.plot_recording "
                             "(io reads recordings, plot draws them)")
    raise AttributeError(f"module 'daqflow.io' has no attribute {name!r}")
