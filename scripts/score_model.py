"""Score a trained model on the real recordings of tests/fixtures/real-dev and on held-out bank test splits.

    python scripts/score_model.py MODEL_DIR [BANK ...] [--holdout-data runs/holdout/data] [--out FILE.json]

MODEL_DIR is a run or study folder (what `instrec predict --model` takes); each BANK's test split is read from
HOLDOUT_DATA/holdout-<BANK> (rendered by `instrec holdout`). Evaluation only: nothing here trains or selects.
"""

import argparse
import json
from pathlib import Path

from instrec.evaluation import evaluate_audio, evaluate_openmic_test
from instrec.predict import load_model

REAL_DEV = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "real-dev"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("banks", nargs="*")
    parser.add_argument("--holdout-data", type=Path, default=Path("runs/holdout/data"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    model = load_model(args.model)
    result = {"model": str(model.run), "representation": model.bundle["representation"]["key"]}
    real = evaluate_audio(model, REAL_DEV, REAL_DEV / "labels.csv")
    result["real_dev"] = {k: real[k] for k in ("f1_macro_present", "map", "top1", "files")}
    for bank in args.banks:
        held = evaluate_openmic_test(model, args.holdout_data / f"holdout-{bank}")
        result[bank] = {k: held[k] for k in ("f1_macro", "map", "files")}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
