"""Score runs and ensembles of runs on the held-out test split of the data they were trained on.

    python scripts/score_ensemble.py RUN[+RUN...] ... [--per-class-threshold] [--runs-of N]

Each argument is one model: a run folder of `instrec train` (or `train-default`'s run/, run-1/), or several joined
by "+" (averaged as convnet.Ensemble, as the shipped model is). Its threshold is chosen on the validation split as
`instrec train-default` does; with --per-class-threshold, each class's own (the model card's "T"). With --runs-of N,
a 10 s clip's probabilities are the mean over its runs of N consecutive examples instead of one pass over the whole
clip (the model card's "W", N = 3). Prints F1-macro and mAP on the test split (for the recipe's folds: the held-out
bank). Evaluation only: nothing here trains, and real-dev is not read.
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from instrec import params as P
from instrec.bundle import trained_classes
from instrec.default_model import assemble, choose_threshold, per_class_thresholds
from instrec.evaluation import stored_split_data
from instrec.metrics import average_precision_per_class, f1_macro_per_class
from instrec.training import predict_probs


def probabilities(classifier, x: torch.Tensor, runs_of: int) -> np.ndarray:
    """The classifier's probabilities of each clip, or their mean over its runs of ``runs_of`` examples."""
    if not runs_of:
        return predict_probs(classifier, x)
    step = P.EXAMPLE_FRAMES
    starts = range(0, x.shape[1] // step - runs_of + 1)
    if not starts:
        raise SystemExit(f"--runs-of {runs_of}: a clip has only {x.shape[1] // step} examples")
    return np.mean([predict_probs(classifier, x[:, s * step:(s + runs_of) * step]) for s in starts], axis=0)


def score(runs: list[Path], per_class: bool, runs_of: int) -> dict:
    classifier, bundle = assemble(runs)
    trained = trained_classes(bundle)
    splits = {}
    for name in ("validation", "test"):
        data = stored_split_data(bundle, name)
        probs = probabilities(classifier, data.x, runs_of)  # predict_probs batches the clips
        splits[name] = (np.where(trained, probs, 0.0), data.y.numpy(), data.mask.numpy())
    threshold = per_class_thresholds(*splits["validation"]) if per_class else choose_threshold(*splits["validation"])[0]
    probs, labels, mask = splits["test"]
    return {"threshold": threshold, "f1_macro": float(np.nanmean(f1_macro_per_class(probs, labels, mask, threshold))),
            "map": float(np.nanmean(average_precision_per_class(probs, labels, mask)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="RUN or RUN+RUN+...")
    parser.add_argument("--per-class-threshold", action="store_true")
    parser.add_argument("--runs-of", type=int, default=0, metavar="N")
    args = parser.parse_args()
    if args.runs_of < 0:
        parser.error("--runs-of: at least 1 (0: the whole clip at once)")
    torch.set_grad_enabled(False)
    for model in args.models:
        result = score([Path(run) for run in model.split("+")], args.per_class_threshold, args.runs_of)
        threshold = np.round(result["threshold"], 2).tolist()
        print(f"{model}: F1-macro {result['f1_macro']:.3f}, mAP {result['map']:.3f}, threshold {threshold}", flush=True)


if __name__ == "__main__":
    main()
