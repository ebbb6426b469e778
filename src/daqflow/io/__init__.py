"""daqflow.io: sources and sinks that talk to the outside (files, simulated hardware)."""

from .simulated import simulated_adc

__all__ = ["simulated_adc"]
