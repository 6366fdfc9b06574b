"""The modelled mandolin, measured: a mandolin the model did not hear, and where it says mandolin without one.

Held-out mandolin: ``--pieces`` solo pieces of 10 s played (``parts.play_part``: tremolo, melody, strum, one-shots)
from notes of the model of ``datasets/synth/mandolin.py`` with the body responses training never uses
(``HELD_OUT_BODIES``, mand9-mand12) and seed 101, through the recording chain (cached as WAV in ``--cache``); per
model, the share of pieces with mandolin in its top 3 and reported (at the model's threshold). False alarms: every
file of real-dev and of the test fixtures (``tests/fixtures/real-heldout``: ukulele, banjo, spoken letters), none a
mandolin: the files where mandolin is reported, and where it is the first class. Evaluation only.

    python scripts/mandolin_check.py [MODEL ...] [--pieces 40]   # default: the shipped model
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def held_out_pieces(cache: Path, count: int, seed: int = 101) -> list[Path]:
    import soundfile as sf

    from instrec.datasets.synth.mandolin import HELD_OUT_BODIES, mandolin_source
    from instrec.datasets.synth.modelled import solo_pieces
    from instrec.datasets.synth.parts import SAMPLE_RATE
    from instrec.io import atomic_path

    paths = [cache / f"mandolin-heldout-{seed}-{n:03d}.wav" for n in range(count)]
    if all(p.exists() for p in paths):
        return paths
    cache.mkdir(parents=True, exist_ok=True)
    source = mandolin_source(count=48, seed=seed, bodies=HELD_OUT_BODIES)
    for path, audio in zip(paths, solo_pieces(source, np.random.default_rng(seed), count)):
        with atomic_path(path) as tmp:
            sf.write(str(tmp), audio, SAMPLE_RATE, format="WAV")
    return paths


def real_files() -> list[tuple[Path, str]]:
    out = []
    for folder in ("real-dev", "real-heldout"):
        for row in csv.DictReader(open(FIXTURES / folder / "labels.csv", newline="")):
            out.append((FIXTURES / folder / row["file"], row.get("instruments") or row.get("label") or ""))
    return out


def false_alarms(model, k: int, files: list[tuple[Path, str]], ranked) -> tuple[list[str], list[str]]:
    """The real ``files`` (none of class ``k``) where class ``k`` is reported, and those where it comes first
    (``ranked(path)`` gives a file's probabilities and the class's rank)."""
    alarms, firsts = [], []
    for path, label in files:
        probs, rank = ranked(path)
        if probs[k] >= model.threshold:
            alarms.append(f"{path.name} ({label}) {probs[k]:.2f}")
        if rank == 0:
            firsts.append(path.name)
    return alarms, firsts


def check(model, pieces: list[Path], files: list[tuple[Path, str]]) -> dict:
    k = model.classes.index("mandolin")
    trained = np.array(model.trained, bool)

    def ranked(path):
        probs = model.predict(path).probs
        order = np.argsort(-np.where(trained, probs, -1.0))
        return probs, int(np.flatnonzero(order == k)[0])

    top3 = reported = 0
    for path in pieces:
        probs, rank = ranked(path)
        top3 += rank < 3
        reported += probs[k] >= model.threshold
    alarms, firsts = false_alarms(model, k, files, ranked)
    return {"pieces": len(pieces), "top3": top3 / len(pieces), "reported": reported / len(pieces),
            "files": len(files), "alarms": alarms, "first": firsts}


def main() -> None:
    from instrec.predict import SHIPPED, load_model

    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--pieces", type=int, default=40)
    parser.add_argument("--cache", type=Path, default=Path("runs/mandolin-heldout"))
    args = parser.parse_args()
    pieces = held_out_pieces(args.cache, args.pieces)
    files = real_files()
    for model_dir in args.models or [Path(SHIPPED)]:
        r = check(load_model(model_dir), pieces, files)
        print(f"{model_dir}: held-out mandolin ({r['pieces']} pieces): top 3 {r['top3']:.2f}, reported "
              f"{r['reported']:.2f}; real files without mandolin ({r['files']}): reported on {len(r['alarms'])}"
              f"{': ' + '; '.join(r['alarms']) if r['alarms'] else ''}; first on {len(r['first'])}"
              f"{': ' + ', '.join(r['first']) if r['first'] else ''}")


if __name__ == "__main__":
    main()
