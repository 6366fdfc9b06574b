"""The shipped model with a probe, as `instrec train-default --probe` fits it after the stage (the stage's clips
cached in runs/default-model by `instrec train-default`), exported to DEST; then score it with score_model.py.
Evaluation of candidates only (docs/experiments/2026-12-05-probe-with-notes.md).

    python scripts/attach_probe.py DEST [--no-notes] [--mixed N] [--all-clips] [--pooling attention]
"""
import argparse
import json
from pathlib import Path

import numpy as np

from instrec.default_model import Recipe, recipe_stage
from instrec.predict import SHIPPED
from instrec.probe import attach, bank_notes, training_recordings
from instrec.real_stage import build_clips

ap = argparse.ArgumentParser()
ap.add_argument("dest", type=Path)
ap.add_argument("--no-notes", action="store_true")
ap.add_argument("--mixed", type=int, default=0)
ap.add_argument("--all-clips", action="store_true")
ap.add_argument("--pooling", default="mean")
args = ap.parse_args()
recipe = Recipe()
stage = recipe_stage(recipe)
out = Path("runs/default-model")
classes = json.loads((SHIPPED / "model.json").read_text())["classes"]
clips = build_clips(out / "real", stage, classes, out / "data", None)
negatives = clips["x"][np.array([m["type"] == "negative" for m in clips["meta"]], bool)]
labels = None
if args.all_clips:
    negatives, labels = clips["x"], (clips["y"], clips["mask"])
notes = [] if args.no_notes else bank_notes("tonejs")
attach(SHIPPED, args.dest, training_recordings(None, stage.hold_out), negatives, log=print, notes=notes,
       mixed=args.mixed, clip_labels=labels,
       pooling=args.pooling)
