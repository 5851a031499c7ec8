"""Jet samples: Pythia 8 events -> leading anti-kT jets -> 16 hls4ml-style features -> HDF5."""

from samples.generate import generate_jets
from samples.jet_features import FEATURE_NAMES
from samples.store import JetSample, load_jets

__all__ = ["FEATURE_NAMES", "JetSample", "generate_jets", "load_jets"]
