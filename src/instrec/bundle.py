"""Exported models: a folder a user can be handed safely, such as the model shipped with instrec.

``model.safetensors`` holds the classifier's parameters and the normalisation statistics as plain tensors
(safetensors stores no code, so loading one can never run any); ``model.json`` holds everything else --
the classifier's arguments, class names, which classes were trained, the decision threshold, the
representation (log-mel only: nothing else to fetch), how it was trained, and the sha256 of the tensors
file, checked on every load.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from instrec.errors import InstrecError
from instrec.io import atomic_path, atomic_write_json

TENSORS, CARD = "model.safetensors", "model.json"
FORMAT = "instrec-model-1"
_STATS = "norm_stats."


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_exported(path: str | Path) -> bool:
    return (Path(path) / CARD).is_file()


def export_model(classifier: torch.nn.Module, bundle: dict, out: str | Path, about: dict | None = None) -> Path:
    """Write ``out/model.safetensors`` and ``out/model.json`` from a trained run's classifier and bundle."""
    from safetensors.torch import save_file

    out = Path(out)
    rep = bundle["representation"]
    if rep["name"] != "logmel":
        raise InstrecError(f"only log-mel models can be exported (this one needs {rep['key']}), since their "
                           "front end needs no weights file")
    tensors = {f"classifier.{k}": v.detach().contiguous() for k, v in classifier.state_dict().items()}
    for name, value in (bundle.get("norm_stats") or {}).items():
        tensors[_STATS + name] = torch.from_numpy(np.ascontiguousarray(value))
    for value in tensors.values():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise InstrecError(f"{out}: the model holds NaN or infinite values; it was not exported")
    with atomic_path(out / TENSORS) as tmp:
        save_file(tensors, str(tmp))
    card = {"format": FORMAT, "sha256": sha256(out / TENSORS), "model_args": classifier.args,
            "classes": list(bundle["classes"]), "trained_classes": list(bundle["trained_classes"]),
            "threshold": bundle["config"]["threshold"], "representation": rep, "config": bundle["config"],
            "epoch": bundle.get("epoch"), "best_val_f1_macro": bundle.get("best_val_f1_macro"), **(about or {})}
    atomic_write_json(out / CARD, card)
    return out


def load_exported(path: str | Path) -> tuple[torch.nn.Module, dict]:
    """The classifier and a bundle dict (as ``training.load_bundle`` gives) from an exported folder."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from instrec.convnet import build_classifier

    path = Path(path)
    try:
        card = json.loads((path / CARD).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InstrecError(f"{path / CARD}: not a readable model description ({exc}); restore the file") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise InstrecError(f"{path / CARD}: not an instrec model (format {FORMAT} expected); restore the file")
    tensors_file = path / TENSORS
    if not tensors_file.is_file():
        raise InstrecError(f"{tensors_file}: missing; an exported model needs {TENSORS} beside {CARD}")
    if sha256(tensors_file) != card.get("sha256"):
        raise InstrecError(f"{tensors_file}: sha256 differs from the one in {CARD}; the file is damaged or "
                           "was replaced; restore it (reinstall instrec for the shipped model)")
    try:
        tensors = load_file(str(tensors_file))
    except (SafetensorError, OSError, ValueError) as exc:
        raise InstrecError(f"{tensors_file}: not a readable safetensors file ({exc})") from None
    state = {k.removeprefix("classifier."): v for k, v in tensors.items() if k.startswith("classifier.")}
    stats = {k.removeprefix(_STATS): v.numpy() for k, v in tensors.items() if k.startswith(_STATS)}
    try:
        classifier = build_classifier(card["model_args"])
        classifier.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as exc:
        raise InstrecError(f"{path}: the tensors do not match the model described in {CARD} ({exc})") from None
    bundle = {**card, "norm_stats": stats or None}
    bundle["config"] = {**card.get("config", {}), "threshold": card["threshold"]}
    return classifier.eval(), bundle
