"""Real recordings played as parts of rendered clips: real attacks, decays, breath, bowing and strumming.

A *part* is one instrument's line in a 10 s clip, made only of real recordings of that instrument from one
library: single notes (``kind`` note) are played in time as a player would -- a melody or bass line of single
notes, chords (struck together or strummed, 8-30 ms apart), held notes, a drum pattern on a bar grid, or notes
left alone to ring out with silence between them (one-shots, single hits: 30% of parts) -- each
note as recorded (its own attack and decay, faded where the next takes over); sung or spoken phrases
(``kind`` phrase) are placed one after another with pauses. A clip is one part (solo), two (duo) or three (band)
of different classes, mixed at drawn levels and sent through the recording chain (``recording.py``: room,
microphone, noise, band limit, compression, codec, level). Labels are full: every class is known present or
absent. ``clip_metadata`` records for each part its class, library, style and every recording placed, with
its start time, so a clip can be traced to its sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE = 16000
CLIP_SECONDS = 10.0
FADE_SECONDS = 0.03
ONESHOT_PROBABILITY = 0.3

# how each class is played from single notes (parts.STYLES): chords for the instruments that play them
STYLES: dict[str, tuple[str, ...]] = {
    "piano": ("melody", "chords", "arpeggio"),
    "guitar": ("strum", "melody", "arpeggio"),
    "ukulele": ("strum", "melody", "arpeggio"),
    "banjo": ("arpeggio", "strum", "melody"),
    "mandolin": ("tremolo", "melody", "strum"),
    "accordion": ("held", "chords", "melody"),
    "organ": ("held", "chords", "melody"),
    "cello": ("held", "melody"),
    "violin": ("held", "melody"),
    "saxophone": ("melody", "held"),
    "clarinet": ("melody", "held"),
    "flute": ("melody", "held"),
    "trumpet": ("melody", "held"),
    "trombone": ("melody", "held"),
    "bass": ("bassline",),
    "voice": ("melody", "held"),
    "mallet_percussion": ("melody", "arpeggio", "tremolo"),
    "synthesizer": ("melody", "chords", "held"),
    "drums": ("beat",),
    "cymbals": ("beat",),
}


@dataclass
class Source:
    """The decoded recordings (mono float32 at 16 kHz) of one class from one library."""

    label: str
    library: str
    group: str = ""  # libraries of one origin (e.g. the languages of one Debian package) are drawn as one
    notes: list[np.ndarray] = field(default_factory=list)
    note_names: list[str] = field(default_factory=list)
    phrases: list[np.ndarray] = field(default_factory=list)
    phrase_names: list[str] = field(default_factory=list)


def load_source_audio(path, sample_rate: int = SAMPLE_RATE, max_seconds: float = 8.0) -> np.ndarray:
    """A recording as mono float32 at ``sample_rate``, peak 1, trailing near-silence (below -60 dB of the peak)
    cut, at most ``max_seconds``."""
    import soundfile as sf
    import soxr

    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ").astype(np.float32)
    peak = float(np.abs(mono).max()) if mono.size else 0.0
    if peak <= 0:
        return np.zeros(0, np.float32)
    mono = mono / peak
    loud = np.flatnonzero(np.abs(mono) > 1e-3)
    start = max(0, int(loud[0]) - sample_rate // 200)
    end = min(mono.size, int(loud[-1]) + 1)
    return mono[start:end][: int(max_seconds * sample_rate)].astype(np.float32)


def build_sources(items, sample_rate: int = SAMPLE_RATE) -> list[Source]:
    """Sources (one per class and library) from ``(path, label, library, kind, group)`` items."""
    sources: dict[tuple[str, str], Source] = {}
    for path, label, library, kind, group in items:
        audio = load_source_audio(path, sample_rate)
        if audio.size < sample_rate // 20:
            continue
        source = sources.setdefault((label, library), Source(label, library, group or library))
        names = source.phrase_names if kind in ("phrase", "loop") else source.note_names
        (source.phrases if kind in ("phrase", "loop") else source.notes).append(audio)
        names.append(str(path))
    return list(sources.values())


def _faded(note: np.ndarray, length: int) -> np.ndarray:
    """``note`` cut to ``length`` samples with a short fade-out where it is cut."""
    out = note[:length].copy()
    fade = min(out.size, int(FADE_SECONDS * SAMPLE_RATE))
    if out.size < note.size and fade:
        out[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return out


class _Score:
    """A part being written: notes added at times, with their gains."""

    def __init__(self, length: int) -> None:
        self.audio = np.zeros(length, np.float32)
        self.events: list[dict] = []

    def add(self, note: np.ndarray, name: str, start_s: float, hold_s: float, gain_db: float) -> None:
        start = int(start_s * SAMPLE_RATE)
        if start >= self.audio.size:
            return
        piece = _faded(note, min(int(hold_s * SAMPLE_RATE), self.audio.size - start))
        self.audio[start:start + piece.size] += piece * np.float32(10 ** (gain_db / 20))
        self.events.append({"file": name, "start_s": round(start_s, 3), "hold_s": round(piece.size / SAMPLE_RATE, 3)})


def play_part(source: Source, rng: np.random.Generator, seconds: float = CLIP_SECONDS,
              style: str | None = None) -> tuple[np.ndarray, dict]:
    """One part of ``seconds`` from ``source``: (mono float32 audio, its description)."""
    score = _Score(int(seconds * SAMPLE_RATE))
    start = float(rng.uniform(0.0, 0.8))
    if source.phrases and (not source.notes or rng.random() < 0.6):
        style = "phrases"
        t = start
        while t < seconds:
            i = int(rng.integers(len(source.phrases)))
            phrase = source.phrases[i]
            score.add(phrase, source.phrase_names[i], t, phrase.size / SAMPLE_RATE, float(rng.uniform(-4, 2)))
            t += phrase.size / SAMPLE_RATE + float(rng.uniform(0.1, 0.9))
        return score.audio, {"label": source.label, "library": source.library, "style": style, "events": score.events}
    if style is None:  # one note (or a few) alone, ringing out, for 30% of parts: samples, one-shots, hits
        style = "oneshot" if rng.random() < ONESHOT_PROBABILITY else str(rng.choice(STYLES.get(source.label, ("melody",))))
    beat = float(rng.uniform(0.3, 0.8))  # seconds per beat
    # a few notes of the library make up the part (a player stays in a register and a key)
    pool = rng.choice(len(source.notes), size=min(len(source.notes), int(rng.integers(3, 9))), replace=False)

    def note(i=None):
        i = int(pool[int(rng.integers(len(pool)))]) if i is None else i
        return source.notes[i], source.note_names[i]

    t = start
    if style == "oneshot":
        while t < seconds:
            audio, name = note()
            score.add(audio, name, t, audio.size / SAMPLE_RATE, float(rng.uniform(-6, 0)))
            t += min(audio.size / SAMPLE_RATE, 4.0) + float(rng.uniform(0.2, 1.5))
    elif style == "beat":
        # 2-4 pieces of the kit on an eighth-note grid; the pattern of a bar repeats with small changes
        pieces = [note() for _ in range(int(rng.integers(2, 5)))]
        pattern = rng.random((len(pieces), 8)) < rng.uniform(0.15, 0.6, (len(pieces), 1))
        pattern[0, 0] = True
        step = beat / 2
        while t < seconds:
            for k in range(8):
                for p, (audio, name) in enumerate(pieces):
                    if pattern[p, k] ^ (rng.random() < 0.05):
                        score.add(audio, name, t + k * step, 2.0, float(rng.uniform(-8, 0)))
            t += 8 * step
    elif style in ("chords", "strum"):
        while t < seconds:
            voices = int(rng.integers(2, 5))
            spread = float(rng.uniform(0.008, 0.03)) if style == "strum" else float(rng.uniform(0.0, 0.01))
            hold = beat * float(rng.choice([1, 2, 2, 4]))
            repeats = int(rng.integers(1, 5)) if style == "strum" else 1
            chord = [note() for _ in range(voices)]
            for r in range(repeats):
                down = rng.random() < 0.7
                for v, (audio, name) in enumerate(chord if down else chord[::-1]):
                    score.add(audio, name, t + r * hold / repeats + v * spread, hold, float(rng.uniform(-6, 0)))
            t += hold
    elif style == "held":
        while t < seconds:
            hold = float(rng.uniform(0.8, 3.0))
            audio, name = note()
            score.add(audio, name, t, hold, float(rng.uniform(-5, 0)))
            if rng.random() < 0.3:  # a second voice held together (double stops, chords, harmony)
                audio, name = note()
                score.add(audio, name, t, hold, float(rng.uniform(-8, -2)))
            t += min(hold, audio.size / SAMPLE_RATE) + float(rng.uniform(0.0, 0.3))
    elif style == "tremolo":
        while t < seconds:
            audio, name = note()
            length = beat * float(rng.choice([1, 2]))
            rate = float(rng.uniform(0.06, 0.12))
            for k in range(int(length / rate)):
                score.add(audio, name, t + k * rate, rate * 1.5, float(rng.uniform(-6, 0)))
            t += length
    else:  # melody, arpeggio, bassline: one note at a time (an arpeggio lets its notes ring)
        durations = {"melody": [0.5, 1, 1, 2], "arpeggio": [0.5, 0.5, 1], "bassline": [1, 1, 2, 0.5]}[style]
        while t < seconds:
            length = beat * float(rng.choice(durations))
            if rng.random() < 0.1:  # a rest
                t += length
                continue
            audio, name = note()
            ring = length * (3.0 if style == "arpeggio" else float(rng.uniform(0.7, 1.1)))
            score.add(audio, name, t, ring, float(rng.uniform(-6, 0)))
            t += length
    return score.audio, {"label": source.label, "library": source.library, "style": style, "events": score.events}


def draw_source(options: list[Source], rng: np.random.Generator) -> Source:
    """One of a class's sources: a group (an origin) uniformly, then one of its libraries."""
    groups = sorted({s.group for s in options})
    group = groups[int(rng.integers(len(groups)))]
    members = [s for s in options if s.group == group]
    return members[int(rng.integers(len(members)))]


def mix_parts(parts: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, list[float]]:
    """The sum of ``parts``, each set to the same RMS and then to a drawn relative level (dB)."""
    levels = [0.0] + [float(rng.uniform(-9, 3)) for _ in parts[1:]]
    out = np.zeros_like(parts[0])
    for part, level in zip(parts, levels):
        rms = float(np.sqrt(np.mean(part ** 2))) or 1.0
        out += part / rms * np.float32(0.1 * 10 ** (level / 20))
    return out, levels


def real_clip(sources: list[Source], rng: np.random.Generator, classes: list[str], chain: bool = True,
              arrangement: str | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """One 10 s clip of real parts: (audio at 16 kHz, labels over ``classes``, metadata). Parts are of different
    classes, each class drawn uniformly among those the sources have, then a source of it (``draw_source``)."""
    from instrec.datasets.synth.recording import apply_chain, draw_chain

    by_class: dict[str, list[Source]] = {}
    for source in sources:
        by_class.setdefault(source.label, []).append(source)
    arrangement = arrangement or str(rng.choice(["solo", "duo", "band"], p=[0.5, 0.3, 0.2]))
    count = min({"solo": 1, "duo": 2, "band": 3}[arrangement], len(by_class))
    labels_drawn = rng.choice(sorted(by_class), size=count, replace=False)
    audios, parts = [], []
    for label in labels_drawn:
        audio, part = play_part(draw_source(by_class[str(label)], rng), rng)
        audios.append(audio)
        parts.append(part)
    audio, levels = mix_parts(audios, rng)
    for part, level in zip(parts, levels):
        part["level_db"] = round(level, 2)
    params = draw_chain(rng) if chain else None
    if params is not None:
        audio = apply_chain(audio, SAMPLE_RATE, params).astype(np.float32)
    else:
        audio = audio / max(1e-9, float(np.abs(audio).max())) * np.float32(10 ** (-6 / 20))
    labels = np.array([c in {p["label"] for p in parts} for c in classes], np.float32)
    return audio, labels, {"arrangement": arrangement, "parts": parts, "chain": params}
