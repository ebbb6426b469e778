"""daqflow.io: sources and sinks that talk to the outside.

Recordings (extra ``io``: h5py, sigmf, tifffile): `sigmf_writer`/`sigmf_source`,
`hdf5_writer`/`hdf5_source` (SWMR: readable while it grows), `tiff_writer`/`tiff_source`
and `walker`, `npy_writer`, raw `file_source` (GNU Radio file_sink output), and
`inspect_recording`. The embedded default source: `simulated_adc`. Optional libraries are
imported only when a block that needs them is used.
"""

from .hdf5_files import hdf5_source, hdf5_writer
from .inspection import RecordingInfo, inspect_recording, plot_recording
from .raw_files import file_source, npy_writer
from .sigmf_files import sigmf_source, sigmf_writer
from .simulated import simulated_adc
from .tiff_files import Walker, tiff_source, tiff_writer, walker

__all__ = [
    "RecordingInfo",
    "Walker",
    "file_source",
    "hdf5_source",
    "hdf5_writer",
    "inspect_recording",
    "npy_writer",
    "plot_recording",
    "sigmf_source",
    "sigmf_writer",
    "simulated_adc",
    "tiff_source",
    "tiff_writer",
    "walker",
]
