"""Score a trained model on the real recordings of tests/fixtures/real-dev and on held-out bank test splits.

    python scripts/score_model.py MODEL_DIR [BANK ...] [--holdout-data runs/holdout/data] [--dataset DIR ...]
                                  [--threshold P] [--out FILE.json]

MODEL_DIR is a run, study or exported model folder (what `instrec predict --model` takes); each BANK's test
split is read from HOLDOUT_DATA/holdout-<BANK> (rendered by `instrec holdout`); each --dataset is an
OpenMIC-format folder whose test split is scored too (e.g. the held-out bank of `instrec train-default`).
Evaluation only: nothing here trains or selects.
"""

import argparse
import json
from pathlib import Path

from _probe import model_for  # scripts/_probe.py
from instrec.evaluation import evaluate_audio, evaluate_openmic_test
from instrec.predict import load_model

REAL_DEV = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "real-dev"
HELD_OUT_KEYS = ("f1_macro", "map", "top1", "single_instrument_items", "files")  # of each held-out test split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("banks", nargs="*")
    parser.add_argument("--holdout-data", type=Path, default=Path("runs/holdout/data"))
    parser.add_argument("--dataset", type=Path, action="append", default=[])
    parser.add_argument("--threshold", type=float)
    parser.add_argument("--validation-threshold", action="store_true",
                        help="a run folder: the threshold with the best F1 on its validation split (as train-default)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    model = model_for(args.model, args.validation_threshold) if args.validation_threshold else load_model(args.model, args.threshold)
    result = {"model": str(model.run), "representation": model.bundle["representation"]["key"]}
    real = evaluate_audio(model, REAL_DEV, REAL_DEV / "labels.csv")
    result["threshold"] = model.threshold
    result["real_dev"] = {k: real[k] for k in ("f1_macro_present", "f1_macro", "map", "top1", "files")}
    result["real_dev"]["per_class"] = {c: r for c, r in real["per_class"].items() if r["positives"]}
    result["real_dev"]["confusion"] = real["confusion"]
    for bank in args.banks:
        held = evaluate_openmic_test(model, args.holdout_data / f"holdout-{bank}")
        result[bank] = {k: held[k] for k in HELD_OUT_KEYS}
    for dataset in args.dataset:
        held = evaluate_openmic_test(model, dataset)
        result[str(dataset)] = {k: held[k] for k in (*HELD_OUT_KEYS, "per_class")}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
