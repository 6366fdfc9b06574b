"""Plausible band arrangements as note events: a key, a tempo, a chord progression and one
part per instrument playing its role (bass line, chords, arpeggios, melody, drum kit, cymbals)."""

from __future__ import annotations

import numpy as np

from instrec.datasets.classes import DRUM_KEYS, PITCH_RANGES, ROLES
from instrec.datasets.synth.render import DRUM_CHANNEL, PITCH_BEND, Control, Note

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 4), (5, 3, 0, 4), (0, 0, 3, 4), (1, 4, 0, 0))

def scale_pitches(root: int, mode: tuple[int, ...], low: int, high: int) -> np.ndarray:
    return np.array([p for p in range(low, high + 1) if (p - root) % 12 in mode])

def chord_pitch_classes(root: int, mode: tuple[int, ...], degree: int) -> list[int]:
    return [(root + mode[(degree + step) % 7]) % 12 for step in (0, 2, 4)]

class Song:
    """Key, mode, tempo and progression shared by every part of a clip."""

    def __init__(self, rng: np.random.Generator, duration_s: float) -> None:
        self.rng = rng
        self.duration_s = duration_s
        self.root = int(rng.integers(12))
        self.mode = MAJOR if rng.random() < 0.6 else MINOR
        self.bpm = float(rng.uniform(72, 150))
        self.beat_s = 60.0 / self.bpm
        self.progression = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]

    def chord_at(self, time_s: float) -> list[int]:
        bar = int(time_s / (4 * self.beat_s))
        return chord_pitch_classes(self.root, self.mode, self.progression[bar % len(self.progression)])

    def beats(self, subdivision: int = 1):
        step = self.beat_s / subdivision
        return [i * step for i in range(int(self.duration_s / step) + 1) if i * step < self.duration_s]

def _velocity(rng, base: int, spread: int = 12) -> int:
    return int(np.clip(base + rng.integers(-spread, spread + 1), 20, 127))

def _nearest(pitches: np.ndarray, pcs: list[int], target: float) -> int:
    candidates = pitches[np.isin(pitches % 12, pcs)]
    return int(candidates[np.argmin(np.abs(candidates - target))]) if candidates.size else int(target)

def bass_part(song: Song, channel: int, low: int, high: int) -> list[Note]:
    rng = song.rng
    sub = int(rng.choice([1, 2]))
    pitches = np.arange(low, high + 1)
    notes = []
    for t in song.beats(sub):
        if rng.random() < 0.15:
            continue
        pc = song.chord_at(t)[0 if rng.random() < 0.75 else 2]
        notes.append(Note(t, song.beat_s / sub * 0.9, channel, _nearest(pitches, [pc], low + 8), _velocity(rng, 95)))
    return notes

def chord_part(song: Song, channel: int, low: int, high: int) -> list[Note]:
    rng = song.rng
    pitches = np.arange(low, high + 1)
    hits_per_bar = int(rng.choice([1, 2, 4]))
    step = 4 * song.beat_s / hits_per_bar
    centre = (low + high) / 2
    notes = []
    t = 0.0
    while t < song.duration_s:
        pcs = song.chord_at(t)
        base = _nearest(pitches, [pcs[0]], centre - 4)
        voicing = {base} | {_nearest(pitches, [pc], base + 5) for pc in pcs[1:]}
        velocity = _velocity(rng, 80)
        for i, p in enumerate(sorted(voicing)):
            notes.append(Note(t + 0.012 * i * (hits_per_bar == 4), step * 0.95, channel, p, velocity))
        t += step
    return notes

def arpeggio_part(song: Song, channel: int, low: int, high: int) -> list[Note]:
    rng = song.rng
    pitches = np.arange(low, high + 1)
    sub = int(rng.choice([2, 4]))
    notes = []
    target = (low + high) / 2
    for i, t in enumerate(song.beats(sub)):
        pcs = song.chord_at(t)
        pitch = _nearest(pitches, [pcs[i % 3]], target + (i % 4) * 2)
        notes.append(Note(t, song.beat_s / sub * 1.5, channel, pitch, _velocity(rng, 85)))
    return notes

def melody_part(song: Song, channel: int, low: int, high: int) -> list[Note]:
    """A random walk on the scale with phrase rests, notes of 1/2 to 2 beats."""
    rng = song.rng
    pitches = scale_pitches(song.root, song.mode, low, high)
    index = int(rng.integers(len(pitches) // 4, 3 * len(pitches) // 4 + 1))
    notes = []
    t = float(rng.choice([0.0, song.beat_s]))
    while t < song.duration_s:
        length = float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0])) * song.beat_s
        if rng.random() < 0.12:  # breath / phrase rest
            t += length
            continue
        index = int(np.clip(index + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]), 0, len(pitches) - 1))
        notes.append(Note(t, length * 0.92, channel, int(pitches[index]), _velocity(rng, 90)))
        t += length
    return notes

def drum_part(song: Song) -> list[Note]:
    """Kick, snare and toms of a rock/pop groove with an occasional fill."""
    rng = song.rng
    notes = []
    kick, snare = int(rng.choice([35, 36])), int(rng.choice([38, 40]))
    for i, t in enumerate(song.beats(2)):
        beat_in_bar = (i / 2) % 4
        if beat_in_bar in (0, 2) or (beat_in_bar == 2.5 and rng.random() < 0.5):
            notes.append(Note(t, 0.1, DRUM_CHANNEL, kick, _velocity(rng, 105)))
        if beat_in_bar in (1, 3):
            notes.append(Note(t, 0.1, DRUM_CHANNEL, snare, _velocity(rng, 100)))
        if beat_in_bar >= 3 and int(i / 8) % 4 == 3 and rng.random() < 0.7:  # fill at the end of every 4th bar
            notes.append(Note(t, 0.1, DRUM_CHANNEL, int(rng.choice([41, 43, 45, 47, 48, 50])), _velocity(rng, 95)))
    return notes

def cymbal_part(song: Song) -> list[Note]:
    """Hi-hat or ride time-keeping with crashes on bar starts."""
    rng = song.rng
    keeper = int(rng.choice([42, 42, 44, 51, 59]))
    notes = []
    for i, t in enumerate(song.beats(2)):
        key = 46 if keeper == 42 and i % 8 == 7 and rng.random() < 0.5 else keeper
        notes.append(Note(t, 0.1, DRUM_CHANNEL, key, _velocity(rng, 80 if i % 2 else 95)))
        if i % 16 == 0 and rng.random() < 0.6:
            notes.append(Note(t, 0.5, DRUM_CHANNEL, int(rng.choice([49, 57, 55, 52])), _velocity(rng, 105)))
    return notes

PLAYERS = {"bass": bass_part, "chords": chord_part, "arpeggio": arpeggio_part, "melody": melody_part}

def part_notes(song: Song, instrument: str, channel: int) -> list[Note]:
    """Note events of one instrument class playing its role in ``song``."""
    role = ROLES.get(instrument, "melody")
    if role == "drums":
        return drum_part(song)
    if role == "cymbals":
        return cymbal_part(song)
    low, high = PITCH_RANGES[instrument]
    return PLAYERS[role](song, channel, low, high)


# --- solo material and performance (articulation, dynamics, expression, vibrato) ---

SUSTAINING = {"accordion", "cello", "clarinet", "flute", "organ", "saxophone", "synthesizer", "trombone", "trumpet",
              "violin", "voice"}
VIBRATO = {"cello", "clarinet", "flute", "saxophone", "trombone", "trumpet", "violin", "voice"}
SOLO_MATERIALS = ("notes", "one-shots", "phrase")


def register(rng: np.random.Generator, instrument: str) -> tuple[int, int]:
    """A part's register: a window of at least 14 semitones inside the class's pitch range."""
    low, high = PITCH_RANGES[instrument]
    width = max(14, int(round((high - low) * rng.uniform(0.5, 0.85))))
    if width >= high - low:
        return low, high
    start = int(rng.integers(low, high - width + 1))
    return start, start + width


def ensemble_notes(song: Song, instrument: str, channel: int, low: int, high: int) -> list[Note]:
    """In a duo or small ensemble each player takes a role at random: melody, chords, arpeggio or bass line."""
    roles = ["bass"] if instrument == "bass" else ["melody", "melody", "chords", "arpeggio", "bass"]
    return PLAYERS[str(song.rng.choice(roles))](song, channel, low, high)


def solo_notes(song: Song, channel: int, low: int, high: int, material: str) -> list[Note]:
    """Sample-library material: isolated held notes, short one-shots with gaps, or a melodic phrase."""
    rng = song.rng
    if material == "phrase":
        return melody_part(song, channel, low, high)
    notes, t = [], float(rng.uniform(0.0, 0.4))
    while t < song.duration_s - 0.2:
        length = float(rng.uniform(0.8, 3.0)) if material == "notes" else float(rng.uniform(0.08, 0.35))
        gap = float(rng.uniform(0.2, 1.2)) if material == "notes" else float(rng.uniform(0.15, 0.9))
        notes.append(Note(t, min(length, song.duration_s - t), channel, int(rng.integers(low, high + 1)),
                          int(rng.integers(35, 128))))
        t += length + gap
    return notes


def solo_drums(song: Song, instrument: str, material: str) -> list[Note]:
    """A drum or cymbal solo part: a groove, or isolated hits (one-shots) of that class's kit pieces."""
    rng = song.rng
    if material == "phrase":
        return drum_part(song) if instrument == "drums" else cymbal_part(song)
    notes, t = [], float(rng.uniform(0.0, 0.3))
    while t < song.duration_s - 0.1:
        notes.append(Note(t, 0.2, DRUM_CHANNEL, int(rng.choice(DRUM_KEYS[instrument])), int(rng.integers(50, 128))))
        t += float(rng.uniform(0.25, 1.5))
    return notes


def draw_performance(rng: np.random.Generator, instrument: str) -> dict:
    """How a part is played: note-length factor (staccato 0.3 .. sustained 1.1), a dynamics curve over the
    clip, expression swells (CC 11) for sustaining instruments, vibrato (pitch wheel) where players use it."""
    perf = {"articulation": round(float(rng.choice([rng.uniform(0.3, 0.6), rng.uniform(0.6, 1.1)])), 3),
            "dynamics": str(rng.choice(["flat", "crescendo", "decrescendo", "swell"])),
            "velocity_offset": int(rng.integers(-30, 21)), "expression": None, "vibrato": None}
    if instrument in SUSTAINING and rng.random() < 0.5:
        perf["expression"] = {"period_s": round(float(rng.uniform(1.5, 5.0)), 3), "depth": int(rng.integers(20, 60))}
    if instrument in VIBRATO and rng.random() < 0.6:
        perf["vibrato"] = {"rate_hz": round(float(rng.uniform(4.5, 6.5)), 3), "depth_cents": round(float(rng.uniform(8, 35)), 2)}
    return perf


def perform(notes: list[Note], perf: dict, duration_s: float, channel: int, percussive: bool):
    """Apply a performance to note events; returns (notes, controls)."""
    def dynamic(t: float) -> float:
        x = t / duration_s
        return {"flat": 0.0, "crescendo": -25 + 40 * x, "decrescendo": 15 - 40 * x,
                "swell": -20 + 35 * np.sin(np.pi * x)}[perf["dynamics"]]

    out = []
    for n in notes:
        velocity = int(np.clip(n.velocity + perf["velocity_offset"] + dynamic(n.start_s), 15, 127))
        length = n.duration_s if percussive else max(0.05, n.duration_s * perf["articulation"])
        out.append(Note(n.start_s, length, n.channel, n.key, velocity))
    controls = []
    step = 0.03
    times = np.arange(0.0, duration_s, step)
    if perf.get("expression"):
        e = perf["expression"]
        values = 127 - e["depth"] * (0.5 - 0.5 * np.cos(2 * np.pi * times / e["period_s"]))
        controls += [Control(float(t), channel, 11, int(v)) for t, v in zip(times, values)]
    if perf.get("vibrato"):
        v = perf["vibrato"]
        cents = v["depth_cents"] * np.sin(2 * np.pi * v["rate_hz"] * times)
        controls += [Control(float(t), channel, PITCH_BEND, int(8192 + c / 200 * 8191)) for t, c in zip(times, cents)]
    return out, controls
