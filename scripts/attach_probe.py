"""The shipped model with a probe, as `instrec train-default --probe` fits it after the stage (the stage's clips
cached in runs/default-model by `instrec train-default`), exported to DEST; then score it with score_model.py.
Evaluation of candidates only (docs/experiments/2026-12-05-probe-with-notes.md).

    python scripts/attach_probe.py DEST [--no-notes] [--no-gate]
"""

import argparse
import json
from pathlib import Path

import numpy as np

from instrec.default_model import Recipe, recipe_stage
from instrec.predict import SHIPPED
from instrec.probe import attach, training_recordings
from instrec.real_stage import bank_notes, build_clips


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dest", type=Path)
    parser.add_argument("--no-notes", action="store_true", help="candidate 2: the libraries' recordings alone")
    parser.add_argument("--no-gate", action="store_true", help="candidate 3: the probe on every window, ungated")
    parser.add_argument("--work", type=Path, default=Path("runs/default-model"), help="instrec train-default's --out")
    args = parser.parse_args()
    stage = recipe_stage(Recipe())
    classes = json.loads((SHIPPED / "model.json").read_text())["classes"]
    clips = build_clips(args.work / "real", stage, classes, args.work / "data", None)  # cached by train-default
    negatives = clips["x"][np.array([m["type"] == "negative" for m in clips["meta"]], bool)]
    attach(SHIPPED, args.dest, training_recordings(None, stage.hold_out), negatives, log=print,
           notes=[] if args.no_notes else bank_notes("tonejs"), gate_clips=None if args.no_gate else clips)


if __name__ == "__main__":
    main()
