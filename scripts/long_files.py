"""False alarms on long single-instrument recordings, and answers on sounds that are no instrument (evaluation only).

Long recordings: real-dev's files of 30 s or more as they are, and, per class, real-dev's single-instrument files of
that class played one after another (with 0.5 s of silence between, the list repeated) until at least 45 s; each is
predicted as one file. Printed per recording: the instruments reported; then the mean number reported and the share
whose instrument is among them. No-instrument sounds: ``negatives.test_signals()`` and speech (the held-out spoken
letters of ``tests/fixtures/real-heldout``, one after another). Nothing here trains or selects.

    python scripts/long_files.py [MODEL ...]   # default: the shipped model
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
REAL_DEV = FIXTURES / "real-dev"
SPEECH = FIXTURES / "real-heldout"
RATE = 16000


def _load(path: Path) -> np.ndarray:
    from instrec.audio import load_audio

    return load_audio(path, RATE)


def long_recordings(min_seconds: float = 30.0, target_seconds: float = 45.0) -> list[tuple[str, np.ndarray, str]]:
    rows = list(csv.DictReader(open(REAL_DEV / "labels.csv", newline="")))
    out, by_class = [], {}
    for row in rows:
        instruments = [i for i in row["instruments"].split(";") if i]
        audio = _load(REAL_DEV / row["file"])
        if len(instruments) != 1:
            continue
        if audio.size >= min_seconds * RATE:
            out.append((row["file"], audio, instruments[0]))
        by_class.setdefault(instruments[0], []).append(audio)
    gap = np.zeros(RATE // 2, np.float32)
    for label, pieces in sorted(by_class.items()):
        parts, total, k = [], 0, 0
        while total < target_seconds * RATE:
            piece = pieces[k % len(pieces)]
            parts += [piece, gap]
            total += piece.size + gap.size
            k += 1
        out.append((f"real-dev {label} files in a row", np.concatenate(parts), label))
    return out


def speech() -> np.ndarray:
    rows = [r for r in csv.DictReader(open(SPEECH / "labels.csv", newline="")) if r["instruments"] == "voice"]
    gap = np.zeros(RATE // 4, np.float32)
    return np.concatenate([x for r in rows * 3 for x in (_load(SPEECH / r["file"]), gap)])


def main() -> None:
    from instrec.datasets.synth.negatives import test_signals
    from instrec.predict import load_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=[None])
    args = parser.parse_args()
    recordings = long_recordings()
    for name in args.models:
        model = load_model(name)
        print(f"== {name or 'shipped model'} (file rule {model.file_rule}, threshold {model.threshold})")
        counts, hits = [], []
        for label, audio, truth in recordings:
            reported = [c for c, _ in model.predict(audio, sample_rate=RATE).instruments()]
            counts.append(len(reported))
            hits.append(truth in reported)
            print(f"  {label} ({audio.size / RATE:.0f} s, {truth}): {', '.join(reported) or 'nothing'}")
        print(f"  long recordings: {len(counts)}, instruments reported on average {np.mean(counts):.2f}, "
              f"instrument found in {np.mean(hits):.2f}")
        signals = {**test_signals(), "speech (held-out spoken letters)": speech()}
        for label, audio in signals.items():
            reported = [c for c, _ in model.predict(audio, sample_rate=RATE).instruments()]
            print(f"  {label}: {', '.join(reported) or 'nothing'}")


if __name__ == "__main__":
    main()
