"""Probe: how well does a model recognise instruments in short excerpts of held-out clips?

Real recordings handed to a tagger are often 1-5 s (sample-pack files, stems cut around a phrase), while the
held-out test splits are 10 s clips. Each test clip of each --dataset is cut to an excerpt of each --seconds length
starting at a seeded point (per file and length), and scored with the clip's labels (an instrument that rests
through the excerpt still counts as present, the same for every model compared). Prints F1-macro, mAP and top-1
per dataset and length. Evaluation only: nothing here trains or selects.

    python scripts/excerpt_probe.py MODEL_DIR --dataset DIR [--dataset DIR ...] [--seconds 1,3,10] [--out FILE.json]
"""

import argparse
import json
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf

from instrec.evaluation import evaluate_openmic_test
from instrec.predict import load_model


class Excerpt:
    """A predict.Model that reads ``seconds`` of each file from a seeded start (the whole file if shorter)."""

    def __init__(self, model, seconds: float, seed: int) -> None:
        self.model, self.seconds, self.seed = model, seconds, seed
        self.classes, self.threshold, self.trained = model.classes, model.threshold, model.trained

    def predict(self, path):
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)
        length = int(round(self.seconds * rate))
        if length < len(audio):
            rng = np.random.default_rng([self.seed, zlib.crc32(Path(path).name.encode()), length])
            start = int(rng.integers(0, len(audio) - length + 1))
            audio = audio[start:start + length]
        return self.model.predict(audio, rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--dataset", type=Path, action="append", required=True)
    parser.add_argument("--seconds", default="1,3,10", help="excerpt lengths (comma-separated)")
    parser.add_argument("--input-level", help="override the model's input-level rule (predict.LEVEL_RULES)")
    parser.add_argument("--validation-threshold", action="store_true",
                        help="a run folder: the threshold with the best F1 on its validation split (as train-default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    threshold = None
    if args.validation_threshold:
        from instrec.default_model import validation_threshold
        from instrec.training import load_bundle

        threshold = validation_threshold(*load_bundle(args.model))[0]
    model = load_model(args.model, threshold, input_level=args.input_level)
    result = {"model": str(args.model), "threshold": model.threshold, "input_level": model.input_level,
              "seed": args.seed}
    for dataset in args.dataset:
        for seconds in (float(s) for s in args.seconds.split(",")):
            held = evaluate_openmic_test(Excerpt(model, seconds, args.seed), dataset)
            result[f"{dataset}/{seconds:g}s"] = {k: held[k] for k in ("f1_macro", "map", "top1", "files")}
            print(dataset, f"{seconds:g}s", {k: round(held[k], 4) for k in ("f1_macro", "map", "top1")}, flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
