"""Render an NSynth-format dataset: 4 s single notes at 16 kHz (held 3 s, released for 1 s).

Layout as the real NSynth: ``nsynth-{train,valid,test}/examples.json`` + ``audio/<note_str>.wav``.
Each (SoundFont, GM program) is one instrument; family and source follow the GM program
(table ``FAMILIES`` / ``SOURCES`` below). Notes are split 80/10/10 at random (the real NSynth
splits by instrument; with ~100 GM instruments that would leave too few timbres to train on).

The ten qualities, each a documented rule on the program or the rendered note:
- bright: spectral centroid of the first second > 3.0 x f0 and > 1500 Hz
- dark: spectral centroid of the first second < 1.5 x f0 or < 400 Hz
- distortion: the preset name says so ("Distortion", "Overdrive", "Charang")
- fast_decay: the RMS at 2.5-3.0 s (before note-off) is more than 30 dB below the peak RMS
- long_release: the RMS at 3.2-3.7 s (after note-off) is within 40 dB of the peak RMS
- multiphonic: never (a GM preset plays one pitch per note)
- nonlinear_env: after the peak, the 50 ms RMS envelope rises again by more than 6 dB before note-off
- percussive: the peak RMS comes within 60 ms of the onset and the RMS 250 ms later is 10 dB lower
- reverb: the renderer added reverb to this note (probability 0.2)
- tempo-synced: never (no tempo-synced modulation is rendered)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instrec.datasets.base import split_80_10_10
from instrec.datasets.nsynth import QUALITIES
from instrec.datasets.synth.pool import drop_cache, render_all
from instrec.datasets.synth.render import Note, Part, Renderer, add_reverb, write_audio
from instrec.datasets.synth.soundfonts import bank_name, split_banks
from instrec.errors import InstrecError
from instrec.io import writes_folder, atomic_write_json

FAMILY_NAMES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string",
                "synth_lead", "vocal")
SOURCE_NAMES = ("acoustic", "electronic", "synthetic")
FAMILIES = {**{p: "keyboard" for p in range(0, 8)}, **{p: "mallet" for p in range(8, 16)},
            **{p: "organ" for p in range(16, 21)}, **{p: "reed" for p in (21, 22, 23, 64, 65, 66, 67, 68, 69, 70, 71, 109, 111)},
            **{p: "guitar" for p in (*range(24, 32), 104, 105, 106)}, **{p: "bass" for p in range(32, 40)},
            **{p: "string" for p in (40, 41, 42, 43, 44, 45, 46, 48, 49, 50, 51, 107, 110)},
            **{p: "vocal" for p in (52, 53, 54)}, **{p: "brass" for p in range(56, 64)},
            **{p: "flute" for p in range(72, 80)}, **{p: "synth_lead" for p in range(80, 88)}, 108: "mallet"}
SYNTHETIC = {38, 39, 50, 51, 54, 62, 63, *range(80, 88)}
ELECTRONIC = {4, 5, 16, 17, 18, 26, 27, 28, 29, 30, 31, 33, 34, 36, 37}
FAMILY_RANGES = {"bass": (28, 60), "brass": (40, 82), "flute": (60, 96), "guitar": (40, 84), "keyboard": (24, 96),
                 "mallet": (48, 96), "organ": (36, 90), "reed": (40, 86), "string": (36, 96),
                 "synth_lead": (36, 96), "vocal": (48, 79)}
VELOCITIES = (25, 50, 75, 100, 127)
SAMPLE_RATE = 16000
NOTE_SECONDS, HOLD_SECONDS = 4.0, 3.0


def source_of(program: int) -> str:
    return "synthetic" if program in SYNTHETIC else "electronic" if program in ELECTRONIC else "acoustic"


@dataclass(frozen=True)
class NoteJob:
    index: int
    seed: int
    out_dir: str
    instrument: dict
    pitch: int
    velocity: int
    note_str: str
    split: str
    reverb_probability: float = 0.2


def _rms_db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(x**2)) + 1e-9)


def measure_qualities(audio: np.ndarray, pitch: int, preset_name: str, reverb: bool) -> list[int]:
    """The ten NSynth qualities of a rendered note, by the rules in the module docstring."""
    sr = SAMPLE_RATE
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    first = audio[:sr]
    spectrum = np.abs(np.fft.rfft(first))
    freqs = np.fft.rfftfreq(first.size, 1 / sr)
    centroid = float(np.sum(freqs * spectrum) / (np.sum(spectrum) + 1e-12))
    hop = sr // 20  # 50 ms
    envelope = np.array([_rms_db(audio[i:i + hop]) for i in range(0, audio.size - hop + 1, hop)])
    peak_index = int(np.argmax(envelope))
    peak = envelope[peak_index]
    hold_end = int(HOLD_SECONDS * 20)
    after_peak = envelope[peak_index:hold_end]
    rises = after_peak - np.minimum.accumulate(after_peak) if after_peak.size else np.zeros(1)
    name = preset_name.lower()
    q = {
        "bright": centroid > 3.0 * f0 and centroid > 1500,
        "dark": centroid < 1.5 * f0 or centroid < 400,
        "distortion": any(w in name for w in ("distortion", "overdrive", "charang")),
        "fast_decay": _rms_db(audio[int(2.5 * sr):int(3.0 * sr)]) < peak - 30,
        "long_release": _rms_db(audio[int(3.2 * sr):int(3.7 * sr)]) > peak - 40,
        "multiphonic": False,
        "nonlinear_env": bool(np.max(rises) > 6.0),
        "percussive": peak_index * 0.05 <= 0.06 and envelope[min(peak_index + 5, envelope.size - 1)] < peak - 10,
        "reverb": reverb,
        "tempo-synced": False,
    }
    return [int(bool(q[k])) for k in QUALITIES]


def render_note(renderer: Renderer, job: NoteJob) -> dict:
    rng = np.random.default_rng([job.seed, job.index])
    inst = job.instrument
    audio = renderer.render([Part(0, inst["soundfont"], inst["program"], 100)],
                            [Note(0.0, HOLD_SECONDS, 0, job.pitch, job.velocity)], NOTE_SECONDS)
    reverb = bool(rng.random() < job.reverb_probability)
    if reverb:
        audio = add_reverb(audio, SAMPLE_RATE, rng)
    audio = np.clip(audio, -1, 1)
    qualities = measure_qualities(audio, job.pitch, inst["preset_name"], reverb)
    write_audio(Path(job.out_dir) / f"nsynth-{job.split}" / "audio" / f"{job.note_str}.wav", audio, SAMPLE_RATE)
    return {
        "note": job.index, "note_str": job.note_str, "instrument": inst["instrument"],
        "instrument_str": inst["instrument_str"], "pitch": job.pitch, "velocity": job.velocity,
        "sample_rate": SAMPLE_RATE, "qualities": qualities,
        "qualities_str": [k for k, v in zip(QUALITIES, qualities) if v],
        "instrument_source": SOURCE_NAMES.index(inst["source"]), "instrument_source_str": inst["source"],
        "instrument_family": FAMILY_NAMES.index(inst["family"]), "instrument_family_str": inst["family"],
    }


def instruments(renderer: Renderer) -> list[dict]:
    """Every (SoundFont, GM program) with an NSynth family, numbered per family and source as NSynth does."""
    found, counters = [], {}
    for s in range(len(renderer.soundfonts)):
        for program, family in sorted(FAMILIES.items()):
            name = renderer.preset_name(s, program)
            if name is None:
                continue
            source = source_of(program)
            n = counters.get((family, source), 0)
            counters[(family, source)] = n + 1
            found.append({"instrument": len(found), "instrument_str": f"{family}_{source}_{n:03d}", "family": family,
                          "source": source, "soundfont": s, "bank": bank_name(renderer.paths[s]), "program": program,
                          "preset_name": name})
    return found


@writes_folder("dataset")
def synth_nsynth(out_dir: str | Path, size: int = 1200, soundfonts=None, seed: int = 0, workers: int | None = None,
                 hold_out_bank: str | None = None) -> Path:
    """Notes from every bank of the pool; with ``hold_out_bank``, the test split holds that bank's notes only."""
    out = Path(out_dir)
    renderer = Renderer(soundfonts, SAMPLE_RATE)
    insts = instruments(renderer)
    banks = split_banks(renderer.paths, hold_out_bank, ("train", "valid", "test"))
    pools = {split: [i for i in insts if i["soundfont"] in banks[split]] for split in banks}
    rng = np.random.default_rng([seed, 1704])
    jobs, seen = [], set()
    if size > 0 and not all(pools.values()):
        raise InstrecError(f"--hold-out-bank {hold_out_bank}: no instruments left for one of the splits")
    while len(jobs) < size:
        split = split_80_10_10(rng.random())
        inst = pools[split][int(rng.integers(len(pools[split])))]
        low, high = FAMILY_RANGES[inst["family"]]
        pitch, velocity = int(rng.integers(low, high + 1)), int(rng.choice(VELOCITIES))
        note_str = f"{inst['instrument_str']}-{pitch:03d}-{velocity:03d}"
        if note_str in seen:
            continue
        seen.add(note_str)
        jobs.append(NoteJob(len(jobs), seed, str(out), inst, pitch, velocity, note_str, split))
    notes = render_all(render_note, jobs, renderer, workers, "nsynth notes", resume_in=out)
    for split in ("train", "valid", "test"):
        examples = {n["note_str"]: n for n, j in zip(notes, jobs) if j.split == split}
        atomic_write_json(out / f"nsynth-{split}" / "examples.json", examples)
    # what NSynth's own fields cannot hold: which bank and preset played each note
    atomic_write_json(out / "synth-metadata.json", {
        "kind": "nsynth", "size": size, "seed": seed, "banks": [bank_name(p) for p in renderer.paths],
        "hold_out_bank": hold_out_bank,
        "notes": {j.note_str: {"split": j.split, "bank": j.instrument["bank"], "program": j.instrument["program"],
                               "preset": j.instrument["preset_name"]} for j in jobs}})
    drop_cache(out)
    return out
