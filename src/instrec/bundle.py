"""Trained-model files, saved and loaded without running code: the run bundle ``best.pt``, training
checkpoints ``last.pt``, and exported model folders (such as the model shipped with instrec).

``best.pt`` and ``last.pt`` are torch archives of plain containers and tensors, loaded with
``weights_only=True`` (numpy's array-rebuilding functions allow-listed for bundles written before norm
statistics were stored as tensors): a planted pickle is refused, never run. A file that is not what it claims
gets one line naming it.

Exported folders:

``model.safetensors`` holds the classifier's parameters and the normalisation statistics as plain tensors
(safetensors stores no code, so loading one can never run any); ``model.json`` holds everything else --
the classifier's arguments, class names, which classes were trained, the decision threshold, the
representation (log-mel only: nothing else to fetch), how it was trained, and the sha256 of the tensors
file, checked on every load.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from instrec.errors import InstrecError
from instrec.io import atomic_path, atomic_torch_save, atomic_write_json, nonfinite, numpy_safe_globals
from instrec.weights import sha256_of

TENSORS, CARD = "model.safetensors", "model.json"
FORMAT = "instrec-model-1"
_STATS = "norm_stats."


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
    bad = nonfinite(tensors)
    if bad:
        raise InstrecError(f"{out}: the model holds NaN or infinite values ({bad[0]}); it was not exported")
    with atomic_path(out / TENSORS) as tmp:
        save_file(tensors, str(tmp))
    card = {"format": FORMAT, "sha256": sha256_of(out / TENSORS), "model_args": classifier.args,
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
    check_card(card, path / CARD)
    tensors_file = path / TENSORS
    if not tensors_file.is_file():
        raise InstrecError(f"{tensors_file}: missing; an exported model needs {TENSORS} beside {CARD}")
    if sha256_of(tensors_file) != card.get("sha256"):
        raise InstrecError(f"{tensors_file}: sha256 differs from the one in {CARD}; the file is damaged or "
                           "was replaced; restore it (reinstall instrec for the shipped model)")
    try:
        tensors = load_file(str(tensors_file))
    except (SafetensorError, OSError, ValueError) as exc:
        raise InstrecError(f"{tensors_file}: not a readable safetensors file ({exc})") from None
    bad = nonfinite(tensors)
    if bad:
        raise InstrecError(f"{tensors_file}: {bad[0]} holds NaN or infinite values; restore the file")
    state = {k.removeprefix("classifier."): v for k, v in tensors.items() if k.startswith("classifier.")}
    stats = {k.removeprefix(_STATS): v.numpy() for k, v in tensors.items() if k.startswith(_STATS)}
    try:
        classifier = build_classifier(card["model_args"])
        classifier.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise InstrecError(f"{path}: the tensors do not match the model described in {CARD} ({reason})") from None
    outputs = _output_classes(classifier)
    if outputs is not None and outputs != len(card["classes"]):
        raise InstrecError(f"{path / CARD}: field 'classes' names {len(card['classes'])} classes where the weights "
                           f"have {outputs} outputs; restore the file")
    bundle = {**card, "norm_stats": stats or None}
    bundle["config"] = {**card.get("config", {}), "threshold": card["threshold"]}
    return classifier.eval(), bundle


def _output_classes(classifier: torch.nn.Module) -> int | None:
    """How many classes a classifier's weights put out (the last layer's rows), or None if it cannot tell."""
    args = getattr(classifier, "args", None) or {}
    members = args.get("members") if isinstance(args, dict) else None
    counts = {m.get("num_classes") for m in members} if members else {args.get("num_classes")}
    counts.discard(None)
    return counts.pop() if len(counts) == 1 else None


def check_card(card: dict, where: Path) -> None:
    """An exported model's ``model.json`` against its schema, before anything in it is used: each wrong field is one
    error naming it. Exported models are log-mel models, so the card names no file (weights, PCA) to open."""
    from instrec.predict import FILE_RULES, LEVEL_RULES

    def wrong(field: str, what: str) -> InstrecError:
        return InstrecError(f"{where}: field {field!r} {what}; restore the file (or export the model again)")

    sha = card.get("sha256")
    if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        raise wrong("sha256", "must be the 64 hex digits of the weights' sha256")
    classes = card.get("classes")
    if not (isinstance(classes, list) and classes and all(isinstance(c, str) and c for c in classes)
            and len(set(classes)) == len(classes)):
        raise wrong("classes", "must be a list of distinct class names")
    trained = card.get("trained_classes", [True] * len(classes))
    if not (isinstance(trained, list) and len(trained) == len(classes) and all(isinstance(t, bool) for t in trained)):
        raise wrong("trained_classes", f"must be {len(classes)} true/false values, one per class")
    threshold = card.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise wrong("threshold", f"is {threshold!r}; it must be a number from 0 to 1")
    floor = card.get("floor")
    if floor is not None and (isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0 <= floor <= 1):
        raise wrong("floor", f"is {floor!r}; it must be a number from 0 to 1, or null for none")
    if "file_rule" in card and card["file_rule"] not in FILE_RULES:
        raise wrong("file_rule", f"is {card['file_rule']!r}; use one of {', '.join(FILE_RULES)}")
    if "input_level" in card and card["input_level"] not in LEVEL_RULES:
        raise wrong("input_level", f"is {card['input_level']!r}; use one of {', '.join(LEVEL_RULES)}")
    if not isinstance(card.get("model_args"), dict):
        raise wrong("model_args", "must describe the network (an object)")
    if "config" in card and not isinstance(card["config"], dict):
        raise wrong("config", "must be an object")
    rep = card.get("representation")
    if not (isinstance(rep, dict) and rep.get("name") == "logmel" and isinstance(rep.get("key"), str)):
        raise wrong("representation", "must be the log-mel front end (exported models need no weights file)")
    for name in ("weights", "pca"):
        if name in rep:
            raise wrong(f"representation.{name}", "names a file; an exported model opens no file beside its own two")
    if rep.get("postprocess", "norm") not in ("norm", "none", "pca"):
        raise wrong("representation.postprocess", f"is {rep.get('postprocess')!r}")


def safe_torch_load(path: str | Path, what: str, fix: str, map_location="cpu") -> dict:
    """``torch.load(weights_only=True)`` of a dict, every failure one line: ``path: not <what> ...; <fix>``."""
    try:
        with torch.serialization.safe_globals(numpy_safe_globals()):
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # unpickling refusals, truncated zips, foreign files: all the same to the user
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise InstrecError(f"{path}: not {what} that can be read safely ({reason}); {fix}") from None
    if not isinstance(obj, dict):
        raise InstrecError(f"{path}: not {what} (holds a {type(obj).__name__}); {fix}")
    return obj


def save_run_bundle(path: str | Path, bundle: dict) -> None:
    """Write ``best.pt``: numpy statistics become tensors, so the file loads with ``weights_only=True``."""
    stats = bundle.get("norm_stats")
    if stats is not None:
        bundle = {**bundle, "norm_stats": {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in stats.items()}}
    bad = nonfinite(bundle.get("state_dict") or {})
    if bad:
        raise InstrecError(f"{path}: parameter {bad[0]} holds NaN or infinite values; the model was not written "
                           "(lower the learning rate or check the features)")
    atomic_torch_save(path, bundle)


def load_run_bundle(path: str | Path) -> tuple[torch.nn.Module, dict]:
    """The classifier in ``best.pt`` (a run folder or the file) and the whole bundle."""
    from instrec.convnet import build_classifier

    path = Path(path)
    if not path.exists():
        raise InstrecError(f"{path}: no such file or folder, so no trained model; give a model folder (`instrec "
                           "train` or `instrec study` writes one)")
    if path.is_dir():
        if (path / TENSORS).is_file():
            raise InstrecError(f"{path / CARD}: missing; an exported model needs model.json beside {TENSORS}; "
                               "restore it")
        path = path / "best.pt"
    if not path.is_file():
        raise InstrecError(f"{path}: no trained model; run `instrec train` (or `instrec study`) first")
    fix = "retrain the run or restore the file"
    bundle = safe_torch_load(path, "an instrec model bundle", fix)
    if not isinstance(bundle.get("model_args"), dict) or not isinstance(bundle.get("state_dict"), dict):
        raise InstrecError(f"{path}: not an instrec model bundle (no model_args/state_dict); {fix}")
    stats = bundle.get("norm_stats")
    if stats is not None:
        bundle["norm_stats"] = {k: np.asarray(v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in stats.items()}
    bad = nonfinite({**bundle["state_dict"], **(bundle.get("norm_stats") or {})})
    if bad:
        raise InstrecError(f"{path}: {bad[0]} holds NaN or infinite values; {fix}")
    try:
        model = build_classifier(bundle["model_args"])
        model.load_state_dict(bundle["state_dict"])
    except (TypeError, RuntimeError, ValueError) as exc:
        raise InstrecError(f"{path}: its parameters do not fit the model it describes "
                           f"({str(exc).splitlines()[0][:160]}); {fix}") from None
    return model.eval(), bundle


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """A training checkpoint ``last.pt`` (optimizer, RNG states, history), read safely."""
    saved = safe_torch_load(path, "an instrec training checkpoint", "delete it to start the run afresh",
                            map_location)
    missing = [k for k in ("model", "optimizer", "shuffle_rng", "torch_rng", "state", "config") if k not in saved]
    if missing:
        raise InstrecError(f"{path}: not an instrec training checkpoint (no {', '.join(missing)}); delete it to "
                           "start the run afresh")
    return saved


def trained_classes(bundle: dict) -> np.ndarray:
    """Which of a bundle's classes its model was trained on (all, for bundles written before that was recorded)."""
    return np.array(bundle.get("trained_classes", [True] * len(bundle["classes"])), dtype=bool)
