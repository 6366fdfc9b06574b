"""Choose predict's file-level rule by measurement: long recordings built from the test clips of a model's
held-out bank (never heard in training), scored under each rule.

A 10 s clip is one window, so a recording of n clips has those n windows' probabilities (n = 3, 6, 18: 30 s,
1 min, 3 min). Two kinds:
  pieces -- n solo clips of the same instrument (one instrument plays throughout, as in a solo piece);
  sets   -- n clips of any arrangement (instruments come and go; the truth is every instrument heard).
Truth: the clips' full labels (``labels_full`` in synth-metadata.json). Prints per-class F1-macro (mean over
classes present) for each rule and kind.

    python scripts/file_rule.py MODEL_DIR DATASET_DIR [--recordings 200] [--seed 0]
"""

import argparse
import json
from pathlib import Path

import numpy as np

from instrec.datasets.openmic import OpenMIC
from instrec.evaluation import score
from instrec.predict import FILE_RULES, file_probability, load_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", type=Path)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--recordings", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the table as JSON here")
    args = parser.parse_args()
    model = load_model(args.model)
    dataset = OpenMIC(args.dataset)
    clips = {c["sample_key"]: c for c in json.loads((args.dataset / "synth-metadata.json").read_text())["clips"]}
    keys = dataset.keys("test")
    truth = np.array([[clips[k]["labels_full"].get(c, 0) for c in model.classes] for k in keys], bool)
    probs = np.stack([model.predict(dataset.audio_path(k)).probs for k in keys])
    rng = np.random.default_rng(args.seed)
    solo = [i for i, k in enumerate(keys) if clips[k]["arrangement"] == "solo" and truth[i].sum() == 1]
    by_class: dict[int, list[int]] = {}
    for i in solo:
        by_class.setdefault(int(np.argmax(truth[i])), []).append(i)
    table = {}
    for n in (3, 6, 18):
        kinds = {"pieces": [rng.choice(by_class[c], n, replace=len(by_class[c]) < n)
                            for c in rng.choice(sorted(by_class), args.recordings)],
                 "sets": [rng.choice(len(keys), n, replace=False) for _ in range(args.recordings)]}
        for kind, recordings in kinds.items():
            labels = np.stack([truth[r].any(axis=0) for r in recordings]).astype(np.float32)
            for rule in FILE_RULES:
                file_probs = np.stack([file_probability(probs[r], np.full(n, 10.0), rule) for r in recordings])
                result = score(file_probs, labels, np.ones_like(labels, bool), model.classes, model.threshold,
                               model.trained)
                table[f"{n}/{kind}/{rule}"] = {"f1_macro_present": result["f1_macro_present"], "map": result["map"]}
                print(f"{n * 10:3d} s {kind:6s} {rule:9s} F1-macro (classes present) {result['f1_macro_present']:.3f}  "
                      f"mAP {result['map']:.3f}")
    for rule in FILE_RULES:
        mean = np.mean([v["f1_macro_present"] for k, v in table.items() if k.endswith(f"/{rule}")])
        table[f"mean/{rule}"] = {"f1_macro_present": float(mean)}
        print(f"mean over lengths and kinds, {rule:9s}: {mean:.3f}")
    if args.out:
        args.out.write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
