"""What the probe scripts share: a file read another way before the model hears it, scored on held-out test splits.

A probe wraps a ``predict.Model`` in a :class:`Reading` whose ``predict(path)`` reads the file (mono, its own rate),
changes it (an excerpt, another level, shifted framings) and hands it to the model; ``evaluate_openmic_test`` then
scores it as it scores a model. Evaluation only: nothing here trains or selects.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from instrec.evaluation import evaluate_openmic_test
from instrec.predict import load_model

KEYS = ("f1_macro", "map", "top1", "files")


class Reading:
    """A stand-in for a ``predict.Model``: ``read`` gets each file's mono audio and returns the model's result."""

    def __init__(self, model) -> None:
        self.model = model
        self.classes, self.threshold, self.trained = model.classes, model.threshold, model.trained

    def predict(self, path):
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        return self.read(audio.mean(axis=1), rate, Path(path))

    def read(self, audio: np.ndarray, rate: int, path: Path):
        return self.model.predict(audio, rate)


def model_for(path: Path, validation_threshold: bool = False, **kwargs):
    """``load_model(path)``, at the threshold with the best F1 on the run's validation split (as ``train-default``
    chooses it) if asked."""
    threshold = None
    if validation_threshold:
        from instrec.default_model import validation_threshold as choose
        from instrec.training import load_bundle

        threshold = choose(*load_bundle(path))[0]
    return load_model(path, threshold, **kwargs)


def score(reading: Reading, dataset: Path, *label: str) -> dict:
    """F1-macro, mAP, top-1 and file count of ``reading`` on ``dataset``'s test split, printed with ``label``."""
    held = evaluate_openmic_test(reading, dataset)
    print(dataset, *label, {k: round(held[k], 4) for k in KEYS[:3]}, flush=True)
    return {k: held[k] for k in KEYS}


def write(result: dict, out: Path | None) -> None:
    if out:
        out.write_text(json.dumps(result, indent=1) + "\n")
