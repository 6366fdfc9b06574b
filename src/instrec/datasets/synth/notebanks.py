"""Playable banks from the single notes of ``instrec recordings``: one SoundFont per library, as tonejs is.

Each library of pitched single notes becomes a bank (``soundfonts.BANKS``: ``rec-<library>``, kind
``recordings``) holding one preset at the General MIDI program of its instrument (``NOTE_BANKS``), one zone per
recorded pitch covering the keys half way to its neighbours (``samplebank.key_ranges``), so the renderer plays the
real notes at any pitch, in its parts, ensembles and bands, like any other bank. A bank is built from the verified
recordings in the cache (``instrec recordings fetch`` first); its group is the library, so holding a bank out
holds out the same recordings as the source folds of ``real_stage.FOLDS``.

A note's pitch is read from its file name (``note_key``): a MIDI number (``note036``, ``027-D#1``, ``... 102``) or
a note name (``A4``, ``eb3``, ``F#4``, ``As2``). Of several recordings of one pitch (dynamics, round robins) the
first by path is taken. Not made into banks: drum kits (their pieces need a General MIDI key map), growled vowels
without a pitch, the spoken letters, and the ukulele (General MIDI has no program for it; it is played only as
parts, ``parts.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instrec.errors import InstrecError

MIDI_NUMBER = re.compile(r"(?:^note|^|[\s_-])(\d{2,3})(?=$|[\s_-])")
NOTE_NAME = re.compile(r"(?:^|[\s_-])([a-gA-G])(#|s|b)?(-?\d)(?=$|[\s_-])")
PITCH_CLASS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
SKIPPED = ("perc", "mute", "release", "rel")  # unpitched articulations inside pitched libraries


@dataclass(frozen=True)
class NoteBank:
    library: str
    label: str
    program: int
    octave: int = 0  # semitones from the key a file name gives to the key it sounds (a library's own convention)


# library -> the instrument's General MIDI program (within classes.GM_PROGRAMS of its class) and the octave its
# file names are off by: the median over a dozen of its notes of the fundamental measured in the recording (YIN on
# 100 ms after the attack) against the named key, 2026-12-05 (docs/experiments/2026-12-05-note-banks.md)
NOTE_BANKS: dict[str, NoteBank] = {b.library: b for b in (
    NoteBank("sfzinstruments.BengtNilsson.HeadroomPiano", "piano", 0),
    NoteBank("sfzinstruments.SplendidGrandPiano", "piano", 0, 12),
    NoteBank("sfzinstruments.GregSullivan.E-Pianos", "piano", 2),
    NoteBank("sfzinstruments.karoryfer.growlybass", "bass", 33, -12),
    NoteBank("sfzinstruments.karoryfer.swagbass", "bass", 34, -12),
    NoteBank("sfzinstruments.karoryfer.meatbass", "bass", 32),
    NoteBank("sfzinstruments.karoryfer.sneakybass", "bass", 32, -12),
    NoteBank("sfzinstruments.karoryfer.emilyguitar", "guitar", 26),
    NoteBank("sfzinstruments.karoryfer.shinyguitar", "guitar", 25),
    NoteBank("sfzinstruments.karoryfer.bear-sax", "saxophone", 67, 12),
    NoteBank("sfzinstruments.karoryfer.caveman-cosmonaut", "organ", 16),  # stops sound 0 or -12: named as played
    NoteBank("sfzinstruments.karoryfer.string-cyborgs", "cello", 42, 12),
    NoteBank("floe-audio.Xylophone", "mallet_percussion", 13, 12),  # the xylophone sounds an octave above its name
    NoteBank("freepats.button-accordion-HN", "accordion", 21, -12),
    NoteBank("sfzinstruments.ganjo", "banjo", 105, -12),
    NoteBank("wcgbg.solfege-samples", "voice", 52),
)}


def bank_name(library: str) -> str:
    """``rec-<library without its owner>``, e.g. rec-karoryfer.bear-sax."""
    return "rec-" + library.split(".", 1)[-1].lower()


def note_key(path: str) -> int | None:
    """The MIDI key a recording's file name gives, or None (no pitch, or an unpitched articulation)."""
    stem = Path(path).stem
    if any(word in stem.lower().split("_") for word in SKIPPED) or stem.lower().startswith(SKIPPED):
        return None
    stem = re.sub(r"^([a-gA-G][#sb]?\d)(pp|p|mp|mf|f|ff)$", r"\1", stem)  # a1pp: a note and its dynamics
    names = NOTE_NAME.findall(stem)
    if names:
        letter, accidental, octave = names[-1]
        key = 12 * (int(octave) + 1) + PITCH_CLASS[letter.lower()] + {"#": 1, "s": 1, "b": -1}.get(accidental, 0)
        return key if 0 <= key <= 127 else None
    numbers = [int(n) for n in MIDI_NUMBER.findall(stem) if 12 <= int(n) <= 120]
    return numbers[-1] if numbers else None


def bank_zones(rows_with_paths, sample_rate: int, octave: int = 0):
    """Zones (``samplebank.Zone``) of one library's pitched notes: (manifest row, path) pairs; ``octave``
    semitones added to each named key."""
    import soundfile as sf
    import soxr

    from instrec.datasets.synth.samplebank import Zone, key_ranges

    by_key: dict[int, tuple] = {}
    for rec, path in sorted(rows_with_paths, key=lambda rp: rp[0].path):
        key = note_key(rec.upstream_path)
        if key is not None and rec.kind == "note" and 0 <= key + octave <= 127:
            by_key.setdefault(key + octave, (rec, path))
    roots = sorted(by_key)
    zones = []
    for root, (low, high) in zip(roots, key_ranges(roots)):
        rec, path = by_key[root]
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
        mono = audio.mean(axis=1)
        if rate != sample_rate:
            mono = soxr.resample(mono, rate, sample_rate, quality="VHQ")
        mono = mono / max(1e-9, float(np.abs(mono).max())) * 0.9
        zones.append(Zone(Path(rec.path).stem, np.round(mono * 32767).astype(np.int16), sample_rate, root, low, high))
    return tuple(zones)


def build_note_bank(library: str, target: Path, root: Path | None = None) -> Path:
    """Write the bank of ``library`` from its recordings in ``root`` (default: the ``instrec recordings`` cache)."""
    from instrec.datasets import recordings
    from instrec.datasets.synth.samplebank import STORED_RATE, Preset, write_sf2

    spec = NOTE_BANKS[library]
    rows = [r for r in recordings.read_manifest() if r.library == library]
    found = recordings.located(rows, root)
    if len(found) < len(rows):
        raise InstrecError(f"{library}: {len(rows) - len(found)} of its {len(rows)} recordings are not fetched; run "
                           f"`instrec recordings fetch {library}` first")
    zones = bank_zones(found, STORED_RATE, spec.octave)
    if not zones:
        raise InstrecError(f"{library}: no recording with a pitch in its file name")
    write_sf2(target, bank_name(library), [Preset(library.split(".", 1)[-1], spec.program, 0, zones)])
    return target
