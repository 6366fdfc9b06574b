"""Probe: how much does a model's answer depend on the recording's level, and does normalising the level help?

The training clips of the recipe are all peak-normalised to -18..-1 dBFS by the recording chain; real recordings
come at any level (orchestral and anechoic recordings often peak at -20 to -35 dBFS). Each test clip of each
--dataset is scored as rendered and again re-levelled to a peak drawn uniformly in --levels (seeded per file), under
each input-level rule (``predict.LEVEL_RULES``): none, the peak moved to a fixed level, or the peak moved into the
training range. Prints F1-macro, mAP and top-1 per dataset, condition and rule. Evaluation only: nothing here
trains or selects.

    python scripts/level_probe.py MODEL_DIR --dataset DIR [--dataset DIR ...] [--levels -40,0] [--out FILE.json]
"""

import argparse
import zlib
from pathlib import Path

import numpy as np

from _probe import Reading, score, write  # scripts/_probe.py
from instrec.predict import LEVEL_RULES, load_model


class Levelled(Reading):
    """Reads each file re-levelled to a seeded peak (or as it is) under an input-level rule."""

    def __init__(self, model, levels: tuple[float, float] | None, rule: str, seed: int) -> None:
        super().__init__(model)
        self.levels, self.rule, self.seed = levels, rule, seed

    def read(self, audio, rate, path):
        if self.levels is not None:
            rng = np.random.default_rng([self.seed, zlib.crc32(path.name.encode())])
            peak_db = rng.uniform(*self.levels)
            audio = audio * np.float32(10 ** (peak_db / 20) / max(float(np.max(np.abs(audio))), 1e-12))
        self.model.input_level = self.rule
        return self.model.predict(audio, rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--dataset", type=Path, action="append", required=True)
    parser.add_argument("--levels", default="-40,0", help="the range of re-levelled peaks, dBFS (low,high)")
    parser.add_argument("--rules", default=",".join(LEVEL_RULES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    low, high = (float(v) for v in args.levels.split(","))
    model = load_model(args.model)
    result = {"model": str(args.model), "threshold": model.threshold, "levels": [low, high], "seed": args.seed}
    for dataset in args.dataset:
        for condition, levels in (("as-rendered", None), ("re-levelled", (low, high))):
            for rule in args.rules.split(","):
                result[f"{dataset}/{condition}/{rule}"] = score(Levelled(model, levels, rule, args.seed), dataset,
                                                                condition, rule)
    write(result, args.out)


if __name__ == "__main__":
    main()
