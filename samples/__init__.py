"""Samples: Pythia 8 jets (features, images, constituents), ADC2021-style L1 events and DQM
occupancy maps, each generated in parallel, seeded and written to one HDF5 file + manifest.

Entry points: :func:`generate_sample` (dispatches on the config's ``kind``), the loaders
:func:`load_jets`, :func:`load_l1`, :func:`load_dqm` (or :func:`load_sample` for any file) and
:func:`validate_sample` (plots).
"""

from nanotrig.samples.api import generate_sample, load_sample, sample_kind
from nanotrig.samples.dqm_sample import DQMSample, generate_dqm, load_dqm
from nanotrig.samples.generate import generate_jets, share_jets
from nanotrig.samples.jet_features import FEATURE_NAMES
from nanotrig.samples.jet_images import CONSTITUENT_FEATURES
from nanotrig.samples.l1_detector import FEATURE_NAMES_L1
from nanotrig.samples.l1_sample import L1Sample, generate_l1, load_l1
from nanotrig.samples.store import JetSample, load_jets
from nanotrig.samples.validate import validate_sample

__all__ = [
    "CONSTITUENT_FEATURES",
    "FEATURE_NAMES",
    "FEATURE_NAMES_L1",
    "DQMSample",
    "JetSample",
    "L1Sample",
    "generate_dqm",
    "generate_jets",
    "generate_l1",
    "generate_sample",
    "load_dqm",
    "load_jets",
    "load_l1",
    "load_sample",
    "sample_kind",
    "share_jets",
    "validate_sample",
]
