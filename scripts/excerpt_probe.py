"""Probe: how well does a model recognise instruments in short excerpts of held-out clips?

Real recordings handed to a tagger are often 1-5 s (sample-pack files, stems cut around a phrase), while the
held-out test splits are 10 s clips. Each test clip of each --dataset is cut to an excerpt of each --seconds length
starting at a seeded point (per file and length), and scored with the clip's labels (an instrument that rests
through the excerpt still counts as present, the same for every model compared). Prints F1-macro, mAP and top-1
per dataset and length. Evaluation only: nothing here trains or selects.

    python scripts/excerpt_probe.py MODEL_DIR --dataset DIR [--dataset DIR ...] [--seconds 1,3,10] [--out FILE.json]
"""

import argparse
import zlib
from pathlib import Path

import numpy as np

from _probe import Reading, model_for, score, write  # scripts/_probe.py


class Excerpt(Reading):
    """Reads ``seconds`` of each file from a seeded start (the whole file if shorter)."""

    def __init__(self, model, seconds: float, seed: int) -> None:
        super().__init__(model)
        self.seconds, self.seed = seconds, seed

    def read(self, audio, rate, path):
        length = int(round(self.seconds * rate))
        if length < len(audio):
            rng = np.random.default_rng([self.seed, zlib.crc32(path.name.encode()), length])
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
    model = model_for(args.model, args.validation_threshold, input_level=args.input_level)
    result = {"model": str(args.model), "threshold": model.threshold, "input_level": model.input_level,
              "seed": args.seed}
    for dataset in args.dataset:
        for seconds in (float(s) for s in args.seconds.split(",")):
            result[f"{dataset}/{seconds:g}s"] = score(Excerpt(model, seconds, args.seed), dataset, f"{seconds:g}s")
    write(result, args.out)


if __name__ == "__main__":
    main()
