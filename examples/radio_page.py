"""A receiver to watch and steer from a browser: ``daqflow serve examples/radio_page.py``
(or ``python examples/radio_page.py``), then open http://127.0.0.1:8765/."""

import daqflow as df
from daqflow import dsp, io, net

tune = df.param(-250e3, name="tune", low=-1e6, high=1e6, unit="Hz", doc="mixer frequency")
adc = io.simulated_adc(2e6, tones=[(250e3, 1.0), (290e3, 0.1)], noise=0.05, center_freq=100e6)
spectra = dsp.spectrum(dsp.mix(adc, freq=tune), nfft=1024)

if __name__ == "__main__":
    df.run(net.web_view(spectra, "spectrum", name="spectrum"),
           net.web_view(spectra, "waterfall", name="waterfall"), serve=8765)
