"""Float Keras models, their training, metrics and plots (stage 2)."""

from models.data import Dataset, Scaler, load_dataset
from models.jet_mlp import build_jet_mlp
from models.metrics import classification_metrics, roc_curves
from models.stage import MODEL_FILE, train_model

__all__ = [
    "MODEL_FILE",
    "Dataset",
    "Scaler",
    "build_jet_mlp",
    "classification_metrics",
    "load_dataset",
    "roc_curves",
    "train_model",
]
