"""Ukulele notes from the same physical model as the mandolin, for a second ukulele beside the one real library.

The only ukulele recordings this project reaches are one library (``francoiswnel.Ukulele``, a concert ukulele's
single notes); held out of the source folds, the model has heard no ukulele at all and reads the library as guitar.
A ukulele is, like a mandolin, a small wooden body radiating plucked strings, so the mandolin's commuted synthesis
(``mandolin.py``: STK's twelve recorded body responses exciting a Karplus-Strong string) is played as a ukulele
is built and played: one nylon string per note, not a steel course (``strings=1``), plucked with the flesh of a
finger or thumb (a soft excitation: the pick's low-pass strong), ringing briefly (a lower loop gain: nylon loses its
upper partials fast), in the ukulele's range (re-entrant G4 C4 E4 A4 tuning, up to the twelfth fret of the A
string: keys 60 to 81), with the body played a little smaller. Training uses ``mandolin.TRAIN_BODIES``.

The notes become a ``parts.Source`` of class ukulele (library ``stk.ukulele``), played as the real libraries' notes
are (``parts.STYLES["ukulele"]``: strum, melody, arpeggio, and one-shots).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from instrec.datasets.synth.mandolin import TRAIN_BODIES, notes_source, played_notes

KEYS = (60, 81)  # C4 (the lowest open string of the re-entrant tuning) to A5 (the A string's twelfth fret)
LIBRARY = "stk.ukulele"


def draw_note(rng: np.random.Generator, bodies: tuple[int, ...] = TRAIN_BODIES) -> dict:
    """A note's playing (all drawn): the key, the body response and its size, where and how softly it is plucked,
    how long it rings."""
    return {"key": int(rng.integers(KEYS[0], KEYS[1] + 1)), "body": int(rng.choice(bodies)),
            "body_size": float(rng.uniform(1.0, 1.4)), "position": float(rng.uniform(0.2, 0.5)),
            "loop_gain": float(rng.uniform(0.98, 0.993)), "pick": float(rng.uniform(0.5, 0.85)),
            "seconds": float(rng.uniform(1.0, 2.0))}


def ukulele_notes(count: int, seed: int, bodies: tuple[int, ...] = TRAIN_BODIES, path: str | Path | None = None,
                  sample_rate: int = 16000) -> list[tuple[np.ndarray, dict]]:
    """``count`` notes drawn with ``seed`` from the allowed ``bodies``, one string each: (audio, how it was played)."""
    return played_notes(draw_note, count, seed, 1208, 1, bodies, path, sample_rate)


def ukulele_source(count: int = 96, seed: int = 0, bodies: tuple[int, ...] = TRAIN_BODIES,
                   path: str | Path | None = None):
    """The modelled notes as a ``parts.Source`` of class ukulele (library ``stk.ukulele``)."""
    return notes_source("ukulele", LIBRARY, ukulele_notes(count, seed, bodies, path))
