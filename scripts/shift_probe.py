"""Probe: does averaging a model's file probabilities over shifted framings help on held-out test splits?

Each file is predicted as it is and again with its first ``--shift`` seconds dropped (the 0.96 s examples then
fall between the first framing's), and the two file probabilities are averaged. Prints F1-macro, mAP and top-1
of the plain and of the averaged reading on each --dataset's test split, at the model's threshold. Evaluation
only: nothing here trains or selects.

    python scripts/shift_probe.py MODEL_DIR --dataset DIR [--dataset DIR ...] [--shift 0.48] [--out FILE.json]
"""

import argparse
from pathlib import Path

import numpy as np

from _probe import Reading, score, write  # scripts/_probe.py
from instrec.predict import load_model


class Shifted(Reading):
    """Reads a file at ``shifts`` (seconds) and averages the probabilities."""

    def __init__(self, model, shifts: tuple[float, ...]) -> None:
        super().__init__(model)
        self.shifts = shifts

    def read(self, audio, rate, path):
        readings = [self.model.predict(audio[int(round(s * rate)):], rate) for s in self.shifts]
        first = readings[0]
        first.probs = np.mean([r.probs for r in readings], axis=0)
        return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--dataset", type=Path, action="append", required=True)
    parser.add_argument("--shift", type=float, default=0.48)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    model = load_model(args.model)
    result = {"model": str(args.model), "threshold": model.threshold, "shift": args.shift}
    for dataset in args.dataset:
        for name, shifts in (("plain", (0.0,)), ("shifted", (0.0, args.shift))):
            result[f"{dataset}/{name}"] = score(Shifted(model, shifts), dataset, name)
    write(result, args.out)


if __name__ == "__main__":
    main()
