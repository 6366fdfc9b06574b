"""The real recordings of the source folds as a labels file for ``instrec evaluate-audio``.

Every recording of the libraries of ``real_stage.FOLDS`` (all folds, or those named) found in the recordings cache,
one row each (its path relative to the cache, its class), so that a model which heard none of them (base networks,
no real stage) is scored on all of them in one command:

    python scripts/fold_recordings.py --out runs/fold-recordings.csv [--fold A ...]
    instrec evaluate-audio --audio ~/.cache/instrec/recordings --labels runs/fold-recordings.csv --model MODEL
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path


def main() -> None:
    from instrec.datasets.recordings import recordings_dir
    from instrec.io import atomic_write_text
    from instrec.real_stage import FOLDS, fold_recordings

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--fold", action="append", choices=sorted(FOLDS), help="only these folds (default: all)")
    args = parser.parse_args()
    root = recordings_dir()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["file", "instruments"])
    rows = 0
    for fold in args.fold or sorted(FOLDS):
        for path, label in fold_recordings(fold):
            writer.writerow([Path(path).relative_to(root).as_posix(), label])
            rows += 1
    atomic_write_text(args.out, text.getvalue())
    print(f"{args.out}: {rows} recordings (labels for --audio {root})")


if __name__ == "__main__":
    main()
