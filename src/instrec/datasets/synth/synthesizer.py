"""A modelled synthesizer: subtractive, unison, pulse and two-operator FM voices, played as a synthesizer is played.

A synthesizer's sound is its synthesis, so this is the instrument itself rather than a model of one: each *preset*
is drawn from a seeded generator (``draw_preset``): one or two band-limited oscillators (saw, square, pulse,
triangle: additive, every harmonic below 8 kHz, so nothing aliases), detuned unison voices, a sub-oscillator, or a
two-operator FM pair; a resonant ladder low-pass (pedalboard's ``LadderFilter``) whose cutoff follows its own
envelope; an amplitude envelope; vibrato; and effects (chorus, delay, phaser, distortion, reverb: pedalboard).
Presets come in six kinds: lead, pad, bass, pluck, brass and FM, each in its own register and envelopes.
A preset plays notes of a scale in its register (``preset_notes``); the notes of one preset are one
``parts.Source`` (library ``synth.<kind>-<n>``, group ``synth``), so a part stays on one sound, as a player does.

Training draws presets from seed streams ``[seed, 5501, n]``; ``HELD_OUT_STREAM`` draws presets that training never
plays, for measurement (``scripts/synth_check.py``), beside sounds made by separate code there.

The presets can also be banks of the renderer (``build_preset_bank``; ``soundfonts.BANKS``: ``synth-presets-<n>``):
each a SoundFont holding, at every General MIDI synthesizer program the renderer plays for the class
(``BANK_PROGRAMS``), one preset of a kind that program names, a note every third key over the class's range, so the
base networks hear synthesizers among the banks' other instruments. Their presets come from stream
``BANK_STREAM``, apart from the real stage's and the held-out ones.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

RATE = 16000
KINDS = ("lead", "pad", "bass", "pluck", "brass", "fm")
REGISTERS = {"lead": (57, 88), "pad": (45, 79), "bass": (28, 52), "pluck": (50, 86), "brass": (45, 76),
             "fm": (45, 84)}
LIBRARY = "synth"
PRESETS = 24  # presets in the real stage's synthesizer (four of each kind)
NOTES_PER_PRESET = 12
HELD_OUT_STREAM = 9901  # presets drawn from this stream are only heard in measurement
BANK_STREAM = 5601  # presets of the synthesizer banks (synth-presets-<n>)
# the kinds of preset each General MIDI synthesizer program the renderer plays (classes.GM_PROGRAMS) may hold: 80
# square lead, 81 saw lead, 88 new-age pad, 89 warm pad, 90 polysynth
BANK_PROGRAMS = {80: ("lead", "pluck"), 81: ("lead", "brass"), 88: ("pad", "fm"), 89: ("pad",),
                 90: ("pluck", "fm", "bass")}
BANK_ROOT_STEP = 3  # a recorded note every third key; each covers the keys half way to its neighbours
BANK_HOLD_S = {"pad": 4.0, "lead": 3.0, "brass": 3.0, "fm": 2.5, "bass": 2.5, "pluck": 1.5}
TOP_HZ = 7800.0  # the highest harmonic an oscillator makes (below the 8 kHz Nyquist of 16 kHz)


def draw_preset(rng: np.random.Generator, kind: str) -> dict:
    """A preset of ``kind`` (``KINDS``): every parameter drawn, JSON-ready."""
    u = lambda a, b: round(float(rng.uniform(a, b)), 4)  # noqa: E731
    waves = ("saw", "square", "pulse", "triangle")
    p: dict = {"kind": kind, "fm": None}
    if kind == "fm":
        p["fm"] = {"ratio": float(rng.choice([0.5, 1.0, 2.0, 3.0, 1.5, 4.0])), "index": u(0.8, 5.0),
                   "index_decay_s": u(0.1, 1.5), "feedback_ratio2": float(rng.choice([0.0, 2.0, 3.0]))}
        p["oscillators"] = []
    else:
        first = str(rng.choice(waves, p=[0.45, 0.2, 0.2, 0.15] if kind != "pad" else [0.6, 0.1, 0.15, 0.15]))
        p["oscillators"] = [{"wave": first, "width": u(0.1, 0.45), "level": 1.0, "semitones": 0, "cents": 0.0}]
        if rng.random() < 0.55:
            p["oscillators"].append({"wave": str(rng.choice(waves)), "width": u(0.1, 0.45), "level": u(0.3, 1.0),
                                     "semitones": int(rng.choice([0, 0, 12, -12, 7])), "cents": u(-12, 12)})
    unison = {"pad": [3, 5, 7], "lead": [1, 1, 3, 5], "brass": [1, 3, 5]}.get(kind, [1, 1, 3])
    p["unison"] = int(rng.choice(unison)) if kind != "fm" else 1
    p["spread_cents"] = u(4, 25)
    p["sub"] = u(0.2, 0.7) if kind in ("bass", "lead") and rng.random() < 0.4 else 0.0
    p["pwm_hz"] = u(0.2, 3.0) if rng.random() < 0.3 else 0.0
    envelopes = {"lead": ((0.003, 0.04), (0.05, 0.5), (0.6, 1.0), (0.05, 0.3)),
                 "pad": ((0.25, 1.2), (0.3, 1.5), (0.7, 1.0), (0.4, 1.5)),
                 "bass": ((0.002, 0.01), (0.08, 0.5), (0.2, 0.9), (0.03, 0.15)),
                 "pluck": ((0.001, 0.006), (0.12, 0.8), (0.0, 0.05), (0.08, 0.3)),
                 "brass": ((0.03, 0.12), (0.1, 0.4), (0.6, 0.9), (0.08, 0.3)),
                 "fm": ((0.001, 0.03), (0.2, 1.5), (0.0, 0.7), (0.1, 0.8))}[kind]
    p["amp"] = {k: u(*r) for k, r in zip(("attack_s", "decay_s", "sustain", "release_s"), envelopes)}
    p["filter"] = None if kind == "fm" and rng.random() < 0.7 else {
        "mode": str(rng.choice(["LPF24", "LPF12"])), "cutoff_ratio": u(1.5, 12.0), "resonance": u(0.0, 0.75),
        "env_octaves": u(0.0, 4.0) if kind in ("pluck", "brass", "bass") else u(0.0, 2.0),
        "env_decay_s": u(0.05, 0.8), "drive": u(1.0, 3.0)}
    p["vibrato"] = {"hz": u(4.0, 7.0), "cents": u(5, 30), "delay_s": u(0.0, 0.6)} \
        if kind in ("lead", "brass", "pad") and rng.random() < 0.45 else None
    p["effects"] = {
        "chorus": u(0.2, 0.8) if rng.random() < (0.6 if kind == "pad" else 0.3) else None,
        "phaser": u(0.2, 2.0) if rng.random() < 0.15 else None,
        "distortion_db": u(6, 24) if kind in ("lead", "bass") and rng.random() < 0.2 else None,
        "delay_s": u(0.15, 0.45) if rng.random() < 0.3 else None,
        "reverb": u(0.1, 0.6) if rng.random() < 0.55 else None}
    return p


def _oscillator(wave: str, phase: np.ndarray, f0: np.ndarray, width: np.ndarray | float) -> np.ndarray:
    """A band-limited wave from its phase (cycles): the sum of its harmonics below ``TOP_HZ`` (each harmonic fades
    out as the pitch moves it past the top)."""
    top = int(TOP_HZ / max(float(np.min(f0)), 20.0))
    out = np.zeros_like(phase)
    for k in range(1, max(top, 1) + 1):
        fade = np.clip((TOP_HZ - k * f0) / 400.0, 0.0, 1.0)
        if wave == "saw":
            a = 1.0 / k
        elif wave == "square":
            a = (1.0 / k) if k % 2 else 0.0
        elif wave == "triangle":
            a = ((-1) ** ((k - 1) // 2)) / k**2 if k % 2 else 0.0
        else:  # pulse of ``width``: its Fourier series
            a = np.sin(np.pi * k * width) / k
        if np.any(a):
            out += a * fade * np.sin(2 * np.pi * k * phase)
    return out


def _envelope(n: int, attack: float, decay: float, sustain: float, release: float, gate: int) -> np.ndarray:
    """An ADSR over ``n`` samples, the key held for ``gate`` samples."""
    t = np.arange(n) / RATE
    held = gate / RATE
    rise = np.clip(t / max(attack, 1e-4), 0.0, 1.0)
    fall = sustain + (1 - sustain) * np.exp(-np.maximum(t - attack, 0.0) / max(decay / 3, 1e-4))
    env = np.where(t < attack, rise, fall)
    at_release = float(env[min(gate, n - 1)]) if gate < n else 0.0
    after = at_release * np.exp(-np.maximum(t - held, 0.0) / max(release / 4, 1e-4))
    return np.where(t < held, env, after)


def render_note(preset: dict, key: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """One note of ``preset`` at MIDI ``key``, the key held ``seconds`` (then its release): mono float32 at 16 kHz,
    peak 0.5."""
    import pedalboard as pb

    amp = preset["amp"]
    gate = int(seconds * RATE)
    n = gate + int(min(amp["release_s"], 1.5) * RATE) + RATE // 20
    t = np.arange(n) / RATE
    f = 440.0 * 2 ** ((key - 69) / 12)
    bend = np.zeros(n)
    if preset["vibrato"]:
        v = preset["vibrato"]
        depth = np.clip((t - v["delay_s"]) / 0.3, 0, 1) * v["cents"]
        bend = depth * np.sin(2 * np.pi * v["hz"] * t)
    x = np.zeros(n)
    if preset["fm"]:
        fm = preset["fm"]
        index = fm["index"] * np.exp(-t / fm["index_decay_s"])
        freq = f * 2 ** (bend / 1200)
        modulator = np.sin(2 * np.pi * np.cumsum(freq * fm["ratio"]) / RATE)
        if fm["feedback_ratio2"]:
            modulator += 0.3 * np.sin(2 * np.pi * np.cumsum(freq * fm["feedback_ratio2"]) / RATE)
        x = np.sin(2 * np.pi * np.cumsum(freq) / RATE + index * modulator)
    voices = preset["unison"]
    offsets = np.linspace(-preset["spread_cents"], preset["spread_cents"], voices) if voices > 1 else [0.0]
    for osc in preset["oscillators"]:
        width = np.clip(osc["width"] + 0.15 * np.sin(2 * np.pi * preset["pwm_hz"] * t), 0.05, 0.95) \
            if preset["pwm_hz"] else osc["width"]  # pulse-width modulation
        for cents in offsets:
            freq = f * 2 ** ((osc["semitones"] * 100 + osc["cents"] + cents + bend) / 1200)
            phase = rng.uniform(0, 1) + np.cumsum(freq) / RATE
            x += osc["level"] * _oscillator(osc["wave"], phase, freq, width)
    if preset["sub"]:
        x += preset["sub"] * len(offsets) * _oscillator("square", rng.uniform(0, 1) + np.cumsum(
            f / 2 * 2 ** (bend / 1200)) / RATE, np.full(n, f / 2), 0.5)
    x = x.astype(np.float32)
    if preset["filter"]:  # the ladder's cutoff follows its envelope, block by block
        flt = preset["filter"]
        ladder = pb.LadderFilter(mode=getattr(pb.LadderFilter.Mode, flt["mode"]), resonance=flt["resonance"],
                                 drive=flt["drive"])
        base = f * flt["cutoff_ratio"]
        blocks = []
        for start in range(0, n, 128):
            octaves = flt["env_octaves"] * np.exp(-start / RATE / flt["env_decay_s"])
            ladder.cutoff_hz = float(np.clip(base * 2**octaves, 40.0, 7500.0))
            blocks.append(ladder(x[None, start:start + 128], RATE, reset=start == 0)[0])
        x = np.concatenate(blocks)
    x = x * _envelope(n, amp["attack_s"], amp["decay_s"], amp["sustain"], amp["release_s"], gate)
    fx = preset["effects"]
    plugins = []
    if fx["distortion_db"]:
        plugins.append(pb.Distortion(drive_db=fx["distortion_db"]))
    if fx["phaser"]:
        plugins.append(pb.Phaser(rate_hz=fx["phaser"]))
    if fx["chorus"]:
        plugins.append(pb.Chorus(mix=fx["chorus"]))
    if fx["delay_s"]:
        plugins.append(pb.Delay(delay_seconds=fx["delay_s"], feedback=0.3, mix=0.25))
    if fx["reverb"]:
        plugins.append(pb.Reverb(room_size=fx["reverb"], wet_level=0.3 * fx["reverb"]))
    x = np.asarray(x, np.float32)
    if plugins:
        x = pb.Pedalboard(plugins)(x[None, :], RATE)[0]
    peak = float(np.max(np.abs(x)))
    return (0.5 * x / peak if peak > 0 else x).astype(np.float32)


def preset_notes(preset: dict, rng: np.random.Generator, count: int = NOTES_PER_PRESET) -> list[tuple[int, np.ndarray]]:
    """``count`` notes of ``preset`` on a major or minor scale in its kind's register: (key, audio)."""
    low, high = REGISTERS[preset["kind"]]
    tonic = int(rng.integers(0, 12))
    steps = [0, 2, 4, 5, 7, 9, 11] if rng.random() < 0.5 else [0, 2, 3, 5, 7, 8, 10]
    keys = [k for k in range(low, high + 1) if (k - tonic) % 12 in steps]
    chosen = sorted(rng.choice(keys, size=min(count, len(keys)), replace=False).tolist())
    hold = {"pluck": (0.4, 1.0), "bass": (0.4, 1.5), "fm": (0.6, 2.0)}.get(preset["kind"], (1.5, 3.0))
    return [(int(k), render_note(preset, int(k), float(rng.uniform(*hold)), rng)) for k in chosen]


def synthesizer_sources(count: int | None = None, seed: int = 0, stream: int = 5501) -> list:
    """``count`` presets (the kinds in turn), each its notes as a ``parts.Source`` of class synthesizer (library
    ``synth.<kind>-<n>``, group ``synth``), each note named by its preset and key, so a clip's metadata traces it."""
    from instrec.datasets.synth.parts import Source

    sources = []
    for i in range(PRESETS if count is None else count):
        rng = np.random.default_rng([seed, stream, i])
        kind = KINDS[i % len(KINDS)]
        preset = draw_preset(rng, kind)
        tag = hashlib.sha256(repr(sorted(preset.items())).encode()).hexdigest()[:8]
        source = Source("synthesizer", f"{LIBRARY}.{kind}-{i}", LIBRARY)
        for key, audio in preset_notes(preset, rng):
            source.notes.append(audio)
            source.note_names.append(f"{LIBRARY}.{kind}-{i}/key{key}-{tag}")
        sources.append(source)
    return sources


def preset_bank(index: int, keys: tuple[int, int] | None = None) -> list:
    """The presets (``samplebank.Preset``) of synthesizer bank ``index``: at each synthesizer program one
    preset drawn from ``[index, BANK_STREAM, program]`` of one of its kinds, notes every ``BANK_ROOT_STEP`` keys over
    ``keys`` (default: the synthesizer class's pitch range), each held ``BANK_HOLD_S`` then released."""
    from instrec.datasets.classes import GM_PROGRAMS, PITCH_RANGES
    from instrec.datasets.synth.samplebank import Preset, Zone, key_ranges

    low, high = keys or PITCH_RANGES["synthesizer"]
    roots = list(range(low, high + 1, BANK_ROOT_STEP))
    presets = []
    for program in GM_PROGRAMS["synthesizer"]:  # a program the class does not play would never be heard
        kinds = BANK_PROGRAMS[program]
        rng = np.random.default_rng([index, BANK_STREAM, program])
        kind = str(rng.choice(kinds))
        preset = draw_preset(rng, kind)
        zones = []
        for root, (key_low, key_high) in zip(roots, key_ranges(roots)):
            audio = render_note(preset, root, BANK_HOLD_S[kind], rng)
            zones.append(Zone(f"{kind}{program}-{root}", np.round(audio / 0.5 * 0.9 * 32767).astype(np.int16), RATE,
                              root, key_low, key_high))
        presets.append(Preset(f"synth {kind} {program}", program, 0, tuple(zones)))
    return presets


def build_preset_bank(index: int, target, keys: tuple[int, int] | None = None):
    """Write synthesizer bank ``index`` (``preset_bank``) as a SoundFont at ``target`` (atomically)."""
    from instrec.datasets.synth.samplebank import write_sf2

    write_sf2(Path(target), f"instrec synthesizer presets {index}", preset_bank(index, keys))
    return Path(target)
