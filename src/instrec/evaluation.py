"""Scores a trained model on labelled recordings: a folder with a labels CSV, or the test split of an
OpenMIC-format dataset (e.g. a held-out SoundFont bank), through the same ``predict`` path users run.

Labels CSV: ``file,instruments[,source]`` with instruments separated by ``;`` (OpenMIC class names);
every class not listed is absent. Metrics: per-class F1-macro at the model's threshold and AP
(``metrics.report``), their means over the classes that occur, top-1 accuracy on the files with one
instrument, and a confusion table of those files (true class -> most probable class).
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import numpy as np

from instrec.bundle import trained_classes
from instrec.errors import AudioError, InstrecError
from instrec.io import atomic_path, atomic_write_json
from instrec.metrics import report


def read_labels(labels_csv: str | Path, audio_dir: str | Path, classes: list[str] | None) -> list[tuple[Path, list[str]]]:
    """(audio path, instruments) per row, read strictly: UTF-8 (a byte-order mark is fine), the header
    ``file,instruments``, no row with more fields than the header (an unquoted comma would drop instruments), only
    known classes (any plain name if ``classes`` is None: a user's own), each file once, and every file inside
    ``audio_dir``. Each problem is one error naming the line."""
    labels_csv, audio_dir = Path(labels_csv), Path(audio_dir)
    if labels_csv.is_dir():
        raise InstrecError(f"{labels_csv}: is a folder; give the labels CSV file (columns file,instruments)")
    if not labels_csv.is_file():
        raise InstrecError(f"{labels_csv}: labels file not found; give a CSV with columns file,instruments")
    try:
        text = labels_csv.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        line = labels_csv.read_bytes()[:exc.start].count(b"\n") + 1
        raise InstrecError(f"{labels_csv}:{line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); save the file "
                           "as UTF-8") from None
    except OSError as exc:
        raise InstrecError(f"{labels_csv}: cannot be read ({exc.strerror}); check its permissions") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    if "file" not in header or "instruments" not in header:
        raise InstrecError(f"{labels_csv}: needs a header with the columns file,instruments")
    at_file, at_instruments = header.index("file"), header.index("instruments")
    rows, seen = [], set()
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(header):
            raise InstrecError(f"{labels_csv}:{line}: {len(values)} fields where the header has {len(header)}; "
                               'separate instruments with ";" (or quote the field: "flute,piano")')
        values += [""] * (len(header) - len(values))
        name = values[at_file].strip()
        if name in seen:
            raise InstrecError(f"{labels_csv}:{line}: {name} is listed twice; keep one row per file")
        seen.add(name)
        instruments = [i.strip() for i in values[at_instruments].split(";") if i.strip()]
        if classes is None:
            odd = [i for i in instruments if not re.fullmatch(r"[\w][\w .'-]{0,63}", i)]
            if odd:
                raise InstrecError(f"{labels_csv}:{line}: instrument name {odd[0]!r}: use letters, digits, spaces, "
                                   "'_', '-', '.' (at most 64 characters)")
        unknown = [i for i in instruments if classes is not None and i not in classes]
        if unknown:
            raise InstrecError(f"{labels_csv}:{line}: unknown instrument {unknown[0]!r}; use the class names "
                               f"{', '.join(classes)}")
        path = audio_dir / name
        if Path(name).is_absolute() or os.path.normpath(name).split(os.sep)[0] == "..":
            raise InstrecError(f"{labels_csv}:{line}: {name} lies outside --audio {audio_dir}; give paths relative "
                               "to that folder")
        if not path.is_file():
            raise InstrecError(f"{labels_csv}:{line}: {path} not found; fix the file name or --audio")
        rows.append((path, instruments))
    if not rows:
        raise InstrecError(f"{labels_csv}: no rows")
    return rows


def score(probs: np.ndarray, labels: np.ndarray, mask: np.ndarray, classes: list[str], threshold: float,
          trained: np.ndarray | None = None, decisions: np.ndarray | None = None) -> dict:
    """metrics.report plus top-1 accuracy and a confusion table over the single-instrument items. A class the
    model never trained on counts as absent everywhere (probability 0), as ``predict`` reports it. F1 counts
    ``decisions`` (N, C) where given (what ``predict`` reported: ``Prediction.present``), else the probabilities at
    ``threshold``."""
    if trained is not None:
        probs = np.where(trained, probs, 0.0)
    result = report(probs, labels, mask, classes, threshold, decisions=decisions)
    occurring = [r["f1_macro"] for r in result["per_class"].values() if r["positives"] and r["f1_macro"] is not None]
    result["f1_macro_present"] = float(np.mean(occurring)) if occurring else None  # classes that occur in truth
    single = np.flatnonzero((labels * mask).sum(axis=1) == 1)
    confusion: dict[str, dict[str, int]] = {}
    hits = 0
    for i in single:
        truth, guess = classes[int(np.argmax(labels[i] * mask[i]))], classes[int(np.argmax(probs[i]))]
        hits += truth == guess
        confusion.setdefault(truth, {}).setdefault(guess, 0)
        confusion[truth][guess] += 1
    result["top1"] = hits / len(single) if len(single) else None
    result["single_instrument_items"] = int(len(single))
    result["confusion"] = confusion
    return result


def _predict_all(model, paths: list[Path]) -> tuple[np.ndarray, np.ndarray, list[int], list[str]]:
    """Each file's probabilities and what predict reported on it (N, C), the indices read, the errors."""
    probs, present, kept, failed = [], [], [], []
    for i, path in enumerate(paths):
        try:
            prediction = model.predict(path)
            probs.append(prediction.probs)
            present.append(prediction.present)
            kept.append(i)
        except AudioError as exc:
            failed.append(str(exc))
    if not probs:
        return np.zeros((0, len(model.classes)), np.float32), np.zeros((0, len(model.classes)), bool), kept, failed
    return np.stack(probs), np.stack(present), kept, failed


def evaluate_audio(model, audio_dir: str | Path, labels_csv: str | Path) -> dict:
    """Score ``model`` (a predict.Model) on a labelled folder; every class is labelled in every file."""
    rows = read_labels(labels_csv, audio_dir, model.classes)
    probs, present, kept, failed = _predict_all(model, [p for p, _ in rows])
    labels = np.array([[c in rows[i][1] for c in model.classes] for i in kept], np.float32)
    mask = np.ones_like(labels, bool)
    result = score(probs, labels, mask, model.classes, model.threshold, model.trained, present)
    result.update(files=len(kept), failed=failed,
                  items=[{"file": rows[i][0].name, "truth": rows[i][1],
                          "probs": {c: round(float(p), 4) if ok else 0.0
                                    for c, p, ok in zip(model.classes, probs[k], model.trained)},
                          "reported": [c for c, on in zip(model.classes, present[k]) if on]}
                         for k, i in enumerate(kept)])
    return result


def evaluate_stored_test(model) -> dict:
    """Score ``model`` (a predict.Model) on the test split of the dataset it was trained on, from the features
    stored when it was trained: the same windows ``evaluate_openmic_test`` would embed again."""
    return evaluate_stored_split(model.classifier, model.bundle, model.threshold)


def stored_split_data(bundle: dict, split: str):
    """``split`` of the dataset and feature store a bundle names (``training.load_bundle``): features, labels,
    mask, keys."""
    from instrec.datasets.openmic import OpenMIC
    from instrec.extract import FeatureStore
    from instrec.training import load_split_data

    return load_split_data(OpenMIC(bundle["dataset"]), FeatureStore(bundle["store"]), split)


def stored_split_probs(classifier, bundle: dict, split: str):
    """A classifier's probabilities on ``split`` of the dataset and feature store its bundle names, and that
    split's data (labels, mask, keys)."""
    from instrec.training import predict_probs

    data = stored_split_data(bundle, split)
    return predict_probs(classifier, data.x), data


def evaluate_stored_split(classifier, bundle: dict, threshold: float) -> dict:
    """Score a classifier on the test split of the dataset and feature store its bundle names."""
    probs, data = stored_split_probs(classifier, bundle, "test")
    trained = trained_classes(bundle)
    result = score(probs, data.y.numpy(), data.mask.numpy(), list(bundle["classes"]), threshold, trained)
    result.update(files=len(data.keys), failed=[])
    return result


def evaluate_openmic_test(model, dataset_root: str | Path, split: str = "test") -> dict:
    """Score ``model`` on the audio of an OpenMIC-format split, with that dataset's label mask."""
    from instrec.datasets.openmic import OpenMIC

    dataset = OpenMIC(dataset_root)
    data = dataset.split(split)
    probs, present, kept, failed = _predict_all(model, [dataset.audio_path(k) for k in data.keys])
    result = score(probs, data.labels[kept].astype(np.float32), data.y_mask[kept], model.classes, model.threshold,
                   model.trained, present)
    result.update(files=len(kept), failed=failed)
    return result


def format_evaluation(result: dict) -> str:
    """The per-class table, the means, top-1 and the confusion of single-instrument files, for the terminal."""
    from instrec.training import format_table

    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [format_table(result),
             f"mean F1-macro over the {sum(1 for r in result['per_class'].values() if r['positives'])} classes present: "
             f"{fmt(result['f1_macro_present'])}",
             f"top-1 accuracy on the {result['single_instrument_items']} single-instrument files: {fmt(result['top1'])}"]
    if result["confusion"]:
        lines.append("confusion (true -> most probable: files):")
        for truth, guesses in sorted(result["confusion"].items()):
            lines.append(f"  {truth:18s} " + ", ".join(f"{g} {n}" for g, n in sorted(guesses.items(), key=lambda x: -x[1])))
    for failure in result.get("failed", []):
        lines.append(f"skipped {failure}")
    return "\n".join(lines)


def write_evaluation(result: dict, out: str | Path) -> list[Path]:
    """``evaluation.json`` (everything), ``per_class.csv`` and ``confusion.csv`` in ``out``."""
    from instrec.training import write_report

    out = Path(out)
    atomic_write_json(out / "evaluation.json", result)
    write_report(result, out, "per_class")
    with atomic_path(out / "confusion.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["true", "predicted", "files"])
        for truth, guesses in sorted(result["confusion"].items()):
            writer.writerows([truth, guess, n] for guess, n in sorted(guesses.items()))
    return [out / "evaluation.json", out / "per_class_metrics.csv", out / "confusion.csv"]
