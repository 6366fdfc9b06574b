"""Choose the segment rule (instrec/segments.py) on rendered music whose entries and exits are known.

Sequences of 3 to 5 solo clips of the held-out bank's test split (10 s each, one instrument each, from a
rendering the model never trained on) are played one after another; an instrument is present in the steps whose
centre lies within its clip. Each sequence is predicted once; every rule of the grid turns the timeline into
segments. Printed per rule: step F1 (each step and class a decision), and the share of true entries and exits
with a segment boundary of that instrument within one step. Evaluation only.

    python scripts/segment_rule.py --dataset runs/default-model/data [--sequences 150] [--seed 0] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from instrec.audio import load_audio
from instrec.predict import EXAMPLE_SAMPLES, load_model
from instrec.segments import SegmentRule, class_segments

GRID = [SegmentRule(on, round(on - h, 2), m, g) for on, h, m, g in
        itertools.product((0.3, 0.4, 0.5, 0.6), (0.0, 0.1, 0.2), (1, 2, 3), (0, 1, 2))]


def sequences(dataset: Path, count: int, seed: int) -> list[tuple[np.ndarray, list[tuple[str, int, int]]]]:
    meta = json.loads((dataset / "synth-metadata.json").read_text())
    solo = [c for c in meta["clips"] if c["split"] == "test" and sum(c["labels_full"].values()) == 1]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        picks = [solo[i] for i in rng.choice(len(solo), int(rng.integers(3, 6)), replace=False)]
        audio, truth, at = [], [], 0
        for clip in picks:
            key = clip["sample_key"]
            x = load_audio(dataset / "audio" / key[:3] / f"{key}.ogg")
            label = next(k for k, v in clip["labels_full"].items() if v)
            audio.append(x)
            truth.append((label, at, at + x.size))
            at += x.size
        out.append((np.concatenate(audio), truth))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--sequences", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    model = load_model()
    cases = []
    for audio, truth in sequences(args.dataset, args.sequences, args.seed):
        p = model.predict(audio, sample_rate=16000)
        steps = p.activity.shape[0]
        centres = np.arange(steps) * EXAMPLE_SAMPLES + EXAMPLE_SAMPLES // 2
        target = np.zeros((steps, len(model.classes)), bool)
        for label, a, b in truth:
            target[(centres >= a) & (centres < b), model.classes.index(label)] = True
        edges = [(label, round(a / EXAMPLE_SAMPLES), round(b / EXAMPLE_SAMPLES)) for label, a, b in truth]
        cases.append((p, target, edges))
    rows = []
    for rule in GRID:
        tp = fp = fn = hits = total = 0
        for p, target, edges in cases:
            decided = np.zeros_like(target)
            bounds = {}
            for c, name in enumerate(model.classes):
                if not p.trained[c]:
                    continue
                spans = class_segments(p.activity[:, c], rule)
                for a, b in spans:
                    decided[a:b, c] = True
                bounds[name] = [x for span in spans for x in span]
            tp += int((decided & target).sum())
            fp += int((decided & ~target).sum())
            fn += int((~decided & target).sum())
            for label, a, b in edges:
                for edge in (a, b):
                    total += 1
                    hits += any(abs(x - edge) <= 1 for x in bounds.get(label, []))
        f1 = 2 * tp / max(2 * tp + fp + fn, 1)
        rows.append({"rule": rule.__dict__, "step_f1": f1, "boundaries_within_one_step": hits / total})
    rows.sort(key=lambda r: -r["step_f1"])
    for r in rows[:15]:
        print(r["rule"], f"step F1 {r['step_f1']:.4f}", f"boundaries {r['boundaries_within_one_step']:.3f}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
