"""The 20 OpenMIC-2018 classes and how General MIDI produces each of them.

A class is produced only by instruments that really are that instrument: mandolin and ukulele
have no General MIDI program, so a GM SoundFont cannot produce them and they stay unlabelled.
"""

from __future__ import annotations

import json
from importlib import resources

CLASS_MAP: dict[str, int] = json.loads((resources.files("instrec") / "data/openmic-2018/class-map.json").read_text())
OPENMIC_CLASSES: tuple[str, ...] = tuple(sorted(CLASS_MAP, key=CLASS_MAP.__getitem__))

# class -> melodic GM programs (0-based) that are that instrument
GM_PROGRAMS: dict[str, tuple[int, ...]] = {
    "accordion": (21, 23),
    "banjo": (105,),
    "bass": (32, 33, 34, 35),
    "cello": (42,),
    "clarinet": (71,),
    "flute": (73,),
    "guitar": (24, 25, 26, 27, 29, 30),
    "mallet_percussion": (9, 11, 12, 13),
    "mandolin": (),
    "organ": (16, 17, 18, 19),
    "piano": (0, 1, 2),
    "saxophone": (64, 65, 66, 67),
    "synthesizer": (80, 81, 88, 89, 90),
    "trombone": (57,),
    "trumpet": (56, 59),
    "ukulele": (),
    "violin": (40,),
    "voice": (52, 53),
}
# percussion classes come from the GM drum kit (bank 128, MIDI channel 10)
DRUM_KEYS: dict[str, tuple[int, ...]] = {
    "drums": (35, 36, 38, 40, 41, 43, 45, 47, 48, 50),  # kicks, snares, toms
    "cymbals": (42, 44, 46, 49, 51, 52, 55, 57, 59),  # hi-hats, crash, ride, china, splash
}

# MIDI pitch range each class plays in
PITCH_RANGES: dict[str, tuple[int, int]] = {
    "accordion": (53, 84), "banjo": (55, 84), "bass": (28, 52), "cello": (36, 69), "clarinet": (52, 86),
    "flute": (62, 93), "guitar": (43, 79), "mallet_percussion": (60, 96), "organ": (43, 84), "piano": (36, 91),
    "saxophone": (49, 80), "synthesizer": (45, 88), "trombone": (40, 70), "trumpet": (55, 82),
    "violin": (55, 93), "voice": (53, 76),
}
# how a class plays in a band arrangement
ROLES: dict[str, str] = {
    "bass": "bass", "piano": "chords", "guitar": "chords", "organ": "chords", "accordion": "chords",
    "banjo": "arpeggio", "mallet_percussion": "arpeggio", "synthesizer": "chords", "drums": "drums", "cymbals": "cymbals",
}  # everything else plays a melody


def class_index(name: str) -> int:
    return OPENMIC_CLASSES.index(name)
