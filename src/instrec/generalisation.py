"""The leave-one-bank-out protocol: does a model recognise timbres it never heard?

For each bank of the pool in turn, an OpenMIC-format dataset is rendered with that bank (its group)
alone in the test split and absent from train and validation (``hold_out_bank``; partial OpenMIC-like
labels by default, as the study), each representation's attention classifier (or a candidate of
``CANDIDATES``, such as the compact CNN) is trained on it, and its test split -- the held-out bank -- is
scored; optionally also a labelled folder of real recordings (``--real DIR --real-labels CSV``). A
reference dataset or several (e.g. the earlier TimGM6mb-only rendering) are trained once each and scored on
the same test splits with the same model and epochs. Every step is cached in the output folder: rerunning resumes.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from instrec.config import TrainConfig
from instrec.io import atomic_write_json, atomic_write_text


# Candidates beyond a representation's attention classifier: name -> (features, training settings).
# cnn: the compact CNN trained end to end on log-mel examples (convnet.py), on random 3-example runs of
# each clip (short real recordings are 1-5 s) in batches of 32 clips.
CANDIDATES = {"cnn": ("logmel", {"architecture": "cnn", "crop_examples": 3, "batch_size": 32, "lr": 1e-3})}


def resolve_candidate(name: str, config: TrainConfig) -> tuple[str, TrainConfig]:
    """A candidate's representation and training config (a plain representation: unchanged config)."""
    representation, settings = CANDIDATES.get(name, (name, {}))
    return representation, dataclasses.replace(config, **settings)


def _train(dataset: Path, candidate: str, config: TrainConfig, run: Path) -> Path:
    from instrec.representations.registry import build_representation
    from instrec.training import run_training

    if not (run / "test_metrics.json").exists():
        representation, config = resolve_candidate(candidate, config)
        run_training(dataset, build_representation(representation), config, run)
    return run


def _score(run: Path, name: str, evaluate) -> dict:
    """A score cached as ``run/<name>.json``."""
    path = run / f"{name}.json"
    if not path.exists():
        atomic_write_json(path, evaluate())
    return json.loads(path.read_text())


def run_holdout(banks: list[str], representations: list[str], out: str | Path, size: int = 800, epochs: int = 60,
                seed: int = 0, real: tuple[Path, Path] | None = None, references: list[Path] = (),
                pool: list[Path] | None = None, labels: str = "partial") -> dict:
    from instrec.io import one_writer

    with one_writer(out, "holdout folder"):
        return _run_holdout(banks, representations, out, size, epochs, seed, real, references, pool, labels)


def _run_holdout(banks, representations, out, size, epochs, seed, real, references, pool, labels) -> dict:
    from instrec.datasets.synth.openmic import synth_openmic
    from instrec.datasets.synth.soundfonts import pool_paths
    from instrec.evaluation import evaluate_audio, evaluate_openmic_test, evaluate_stored_test
    from instrec.predict import Model

    out = Path(out)
    pool = pool or pool_paths()
    config = dataclasses.replace(TrainConfig(), epochs=epochs, seed=seed)
    results: dict = {"banks": banks, "representations": representations, "size": size, "epochs": epochs, "labels": labels,
                     "seed": seed, "pool": [p.name for p in pool], "cells": []}
    data = {}
    for bank in banks:
        data[bank] = out / "data" / f"holdout-{bank}"
        if not (data[bank] / "synth-metadata.json").exists():
            synth_openmic(data[bank], size=size, soundfonts=pool, seed=seed, hold_out_bank=bank, labels=labels)
    # (what the model trains on, the bank it never hears, dataset, run folder): references keyed by their folder
    trainings = [("new", bank, data[bank], f"new-{bank}") for bank in banks]
    trainings += [(f"reference:{Path(r).name}", "-", Path(r), f"reference-{Path(r).name}") for r in references]
    for kind, bank, dataset, folder in trainings:
        for rep in representations:
            run = _train(dataset, rep, config, out / "runs" / folder / re.sub(r"[^\w.-]+", "-", rep).strip("-"))
            model = Model(run)
            cell = {"train_data": kind, "held_out": bank, "representation": rep, "run": str(run), "banks": {}}
            if kind == "new":  # its own test split: the features are stored, nothing to embed again
                cell["banks"][bank] = _score(run, f"holdout-{bank}", lambda: evaluate_stored_test(model))
            else:
                for test_bank in banks:
                    cell["banks"][test_bank] = _score(run, f"holdout-{test_bank}",
                                                      lambda b=test_bank: evaluate_openmic_test(model, data[b]))
            if real is not None:
                cell["real"] = _score(run, "real", lambda: evaluate_audio(model, *real))
            results["cells"].append(cell)
    atomic_write_json(out / "results.json", results)
    atomic_write_text(out / "results.md", holdout_markdown(results))
    return results


def _f(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def holdout_markdown(results: dict) -> str:
    banks = results["banks"]
    lines = [f"Leave-one-bank-out: {results['size']} clips per dataset, {results['epochs']} epochs, seed {results['seed']}; "
             f"pool {', '.join(results['pool'])}.", "",
             "| training data | representation | " + " | ".join(f"held out: {b} (F1 / mAP)" for b in banks)
             + " | mean F1 | real F1 (present classes) | real mAP | real top-1 |",
             "|---|---|" + "---|" * (len(banks) + 4)]
    kinds = [c["train_data"] for c in results["cells"]]
    for kind in sorted(set(kinds), key=lambda k: (k == "new", kinds.index(k))):  # references first
        for rep in results["representations"]:
            cells = [c for c in results["cells"] if c["train_data"] == kind and c["representation"] == rep]
            if not cells:
                continue
            scores = {b: s for c in cells for b, s in c["banks"].items()}
            f1s = [scores[b]["f1_macro"] for b in banks if b in scores and scores[b]["f1_macro"] is not None]
            real = [c["real"] for c in cells if "real" in c]
            mean = lambda key: (sum(r[key] for r in real) / len(real)) if real and all(r[key] is not None for r in real) else None  # noqa: E731
            label = "new data, other banks" if kind == "new" else f"reference data `{kind.split(':', 1)[1]}`"
            lines.append(f"| {label} | {rep} | " + " | ".join(
                f"{_f(scores[b]['f1_macro'])} / {_f(scores[b]['map'])}" if b in scores else "–" for b in banks)
                + f" | {_f(sum(f1s) / len(f1s) if f1s else None)} | {_f(mean('f1_macro_present'))} | {_f(mean('map'))} "
                f"| {_f(mean('top1'))} |")
    lines += ["", "Real recordings: the mean over the models of a row (one per held-out bank for the new data).", ""]
    classes = None
    for c in results["cells"]:
        for s in c["banks"].values():
            classes = list(s["per_class"])
            break
        if classes:
            break
    if classes:
        lines += ["Per-class F1-macro on each held-out bank:", "",
                  "| class | " + " | ".join(f"{c['train_data']} {c['representation']} / {b}"
                                          for c in results["cells"] for b in c["banks"]) + " |",
                  "|---|" + "---|" * sum(len(c["banks"]) for c in results["cells"])]
        for cls in classes:
            lines.append(f"| {cls} | " + " | ".join(_f(s["per_class"][cls]["f1_macro"])
                                                  for c in results["cells"] for s in c["banks"].values()) + " |")
    return "\n".join(lines) + "\n"
