"""Probe: would a threshold per class, or another global one, score better on held-out clips than the one chosen?

For a `train-default` output folder (its member runs and exported `model/`): the global threshold and each class's
own threshold chosen on the validation split (``default_model.THRESHOLDS``), then the mean per-class F1-macro of the
exported model's probabilities (through ``predict``, as a user gets them) on the test split of --dataset at each,
and at every global threshold of the grid. The probabilities are kept in --cache (computed once). Evaluation only:
nothing here trains or selects.

    python scripts/threshold_probe.py OUT_DIR --dataset DIR [--cache FILE.npy] [--out FILE.json]
"""

import argparse
import json
from pathlib import Path

import numpy as np

from instrec.datasets.openmic import OpenMIC
from instrec.default_model import THRESHOLDS, assemble, choose_threshold, member_runs, per_class_thresholds
from instrec.evaluation import _predict_all, stored_split_probs
from instrec.metrics import f1_macro_per_class
from instrec.predict import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    runs = sorted(p for p in args.out_dir.glob("run*") if (p / "config.json").exists())
    classifier, bundle = assemble(member_runs(args.out_dir, len(runs)))
    val_probs, validation = stored_split_probs(classifier, bundle, "validation")
    val_labels, val_mask = validation.y.numpy(), validation.mask.numpy()
    chosen, _ = choose_threshold(val_probs, val_labels, val_mask)
    own = per_class_thresholds(val_probs, val_labels, val_mask)
    model = load_model(args.out_dir / "model")
    dataset = OpenMIC(args.dataset)
    test = dataset.split("test")
    if args.cache and args.cache.exists():
        probs = np.load(args.cache)
    else:
        probs, _, _, failed = _predict_all(model, [dataset.audio_path(k) for k in test.keys])
        if failed:
            raise SystemExit(f"{len(failed)} clips failed: {failed[0]}")
        if args.cache:
            np.save(args.cache, probs)
    if model.trained is not None:
        probs = np.where(model.trained, probs, 0.0)  # as evaluation.score: an untrained class is never reported
    f1 = lambda t: float(np.nanmean(f1_macro_per_class(probs, test.labels, test.y_mask, t)))  # noqa: E731
    result = {"validation_threshold": chosen, "f1_macro": f1(chosen),
              "per_class_thresholds": dict(zip(model.classes, own.tolist())), "f1_macro_per_class_thresholds": f1(own),
              "f1_macro_by_threshold": {f"{t:.2f}": f1(t) for t in THRESHOLDS},
              "f1_macro_per_class_chosen_on_test": f1(per_class_thresholds(probs, test.labels, test.y_mask))}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
