"""Float Keras models, their training, metrics and plots (stage 2)."""

from nanotrig.models.data import Dataset, Scaler, load_dataset, load_sample_dataset, sample_inputs
from nanotrig.models.jet_cnn import build_jet_cnn
from nanotrig.models.jet_mlp import build_jet_mlp
from nanotrig.models.metrics import classification_metrics, roc_curves
from nanotrig.models.stage import MODEL_FILE, build_model, train_model

__all__ = [
    "MODEL_FILE",
    "Dataset",
    "Scaler",
    "build_jet_cnn",
    "build_jet_mlp",
    "build_model",
    "classification_metrics",
    "load_dataset",
    "load_sample_dataset",
    "roc_curves",
    "sample_inputs",
    "train_model",
]
