"""Frozen or fine-tuned encoder for `instrec train-audio`, measured on real recordings the base never heard.

Builds a labelled folder from the real recordings of fold B (docs/experiments/2026-12-05-train-audio.md): 30 organ,
10 piano, 10 guitar, 10 banjo notes of fold B's libraries, linked from the `instrec recordings` cache (or --from), and
runs train-audio's cross-validation in both modes from --base (a model that never heard fold B). Prints per class
the cross-validated F1 and AP of each mode and of the base on the same files, and the time of each.

    python scripts/train_audio_modes.py --base runs/folds4/B/model --out runs/train-audio-modes [--from DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

from instrec.train_audio import AudioTrainConfig, train_audio

PICK = {"karoryfer.caveman-cosmonaut": ("organ", 30), "SplendidGrandPiano": ("piano", 10),
        "karoryfer.emilyguitar": ("guitar", 10), "sfzinstruments/ganjo": ("banjo", 10)}


def main() -> None:
    from instrec.datasets.recordings import recordings_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--from", dest="source", type=Path, help="a local copy of the recordings (their layout)")
    args = parser.parse_args()
    root = args.source or recordings_dir()
    audio = args.out / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    manifest = Path(__file__).parent.parent / "src" / "instrec" / "data" / "recordings" / "manifest.csv"
    taken, rows = {k: 0 for k in PICK}, []
    for row in csv.DictReader(open(manifest)):
        for key, (label, count) in PICK.items():
            if key in row["source"] and row["label"] == label and taken[key] < count:
                taken[key] += 1
                name = row["path"].replace("/", "__")
                if not (audio / name).exists():
                    os.symlink((root / row["path"]).resolve(), audio / name)
                rows.append((name, label))
    (audio / "labels.csv").write_text("file,instruments\n" + "".join(f"{n},{label}\n" for n, label in rows))
    results = {}
    for mode in ("frozen", "finetune"):
        out = args.out / mode
        if not (out / "train-audio.json").exists():
            train_audio(audio, audio / "labels.csv", out, AudioTrainConfig(mode=mode), args.base)
        results[mode] = json.loads((out / "train-audio.json").read_text())
    base = results["frozen"]["base_model_on_the_same_files"]
    print("class      files  frozen F1 / AP   fine-tuned F1 / AP   base model F1 / AP")
    for c, r in results["frozen"]["cross_validation"]["per_class"].items():
        f = results["finetune"]["cross_validation"]["per_class"][c]
        b = base.get(c, {})
        print(f"{c:10} {r['positives']:5}  {r['f1_macro']:.3f} / {r['ap']:.3f}    {f['f1_macro']:.3f} / {f['ap']:.3f}"
              f"        {b.get('f1_macro', float('nan')):.3f} / {b.get('ap', float('nan')):.3f}")
    for mode in results:
        print(f"{mode}: {results[mode]['seconds']:.0f} s (5 folds and the final model)")


if __name__ == "__main__":
    main()
