"""Choose the file rule and threshold on held-out real sources: short recordings scored, long solo pieces counted.

For each fold's stage model (``scripts/real_folds.py`` wrote ``OUT/<fold>/model``), every recording of the fold
and every long solo piece (``OUT/<fold>/long-*.wav``) is predicted once; each file rule of
``predict.FILE_RULES`` and threshold is then applied to the stored window probabilities. Printed per pair,
averaged over the folds: mean per-class F1-macro on the recordings (classes present, per fold, then averaged),
the mean number of instruments reported on a long piece, and the share of long pieces whose instrument is
reported. The rule (docs/experiments/2026-12-05-file-rule-real.md) was written before the numbers.

    python scripts/real_file_rule.py --out runs/folds4 --fold A --fold B --fold C [--model base] [--tag=-placed]

Each fold's rows are kept in ``OUT/<fold>/file-rule-<model>.json``: run one process per fold, then all folds again
to print them together.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.30, 0.71, 0.05))


def windows(model, paths) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for path in paths:
        prediction = model.predict(path)
        out.append((prediction.extra["window_probs"], prediction.extra["window_examples"],
                    prediction.extra.get("window_phase")))
    return out


def main() -> None:
    from instrec.default_model import base_model_path
    from instrec.evaluation import score
    from instrec.io import atomic_write_json
    from instrec.predict import FILE_RULES, file_probability, load_model
    from instrec.real_stage import fold_recordings

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--fold", action="append", required=True)
    parser.add_argument("--model", default="stage", help="stage (each fold's model) or base (E4)")
    parser.add_argument("--tag", default="", help="appended to the cache's name: rows of another predict apart")
    args = parser.parse_args()
    results = {}
    for fold in args.fold:
        cached = args.out / fold / f"file-rule-{args.model}{args.tag}.json"
        if cached.exists():  # rows of an earlier run (one process per fold, then one to pool them)
            for row in json.loads(cached.read_text()):
                results.setdefault((row["rule"], row["threshold"]), []).append(tuple(row["scores"]))
            continue
        rows = []
        model = load_model(base_model_path() if args.model == "base" else args.out / fold / "model")
        items = fold_recordings(fold)
        longs = sorted((args.out / fold).glob("long-*.wav"))
        long_labels = [p.stem.split("-", 2)[2] for p in longs]
        short_w, long_w = windows(model, [p for p, _ in items]), windows(model, longs)
        labels = np.array([[c == label for c in model.classes] for _, label in items], np.float32)
        for rule in FILE_RULES:
            short = np.stack([file_probability(w, n, rule, ph) for w, n, ph in short_w])
            long = np.stack([file_probability(w, n, rule, ph) for w, n, ph in long_w])
            for t in THRESHOLDS:
                s = score(short, labels, np.ones_like(labels, bool), model.classes, t, model.trained)
                reported = (long >= t) & model.trained
                hit = [reported[i, model.classes.index(lab)] for i, lab in enumerate(long_labels)]
                scores = (s["f1_macro_present"], float(reported.sum(axis=1).mean()), float(np.mean(hit)))
                results.setdefault((rule, t), []).append(scores)
                rows.append({"rule": rule, "threshold": t, "scores": scores})
        atomic_write_json(cached, rows)
    print("rule       threshold  F1(short)  reported(long)  recall(long)")
    for (rule, t), rows in sorted(results.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        f1, count, recall = np.mean(rows, axis=0)
        print(f"{rule:10} {t:9.2f}  {f1:9.3f}  {count:14.2f}  {recall:12.2f}")


if __name__ == "__main__":
    main()
