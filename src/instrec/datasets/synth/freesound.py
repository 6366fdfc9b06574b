"""Render a Freesound-style tagged corpus: short sounds with the tags a Freesound user would give.

Layout: ``metadata.json`` (a list of Freesound API sound records: id, name, tags, duration,
license, username, split), ``audio/<id>.ogg`` and ``tag_vocabulary.txt`` (the tags of the
training split, one per line, most frequent first, at most 1000). Kinds of sound: single
notes, chords, melodic phrases, drum hits and drum loops. Tags come from what was rendered:
instrument class and preset name, family, register, articulation, effects and tempo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instrec.datasets.base import split_80_10_10
from instrec.datasets.classes import DRUM_KEYS, PITCH_RANGES
from instrec.datasets.freesound import tag_vocabulary
from instrec.datasets.synth.music import Song, chord_part, cymbal_part, drum_part, melody_part
from instrec.datasets.synth.openmic import split_pools
from instrec.datasets.synth.pool import drop_cache, render_all
from instrec.datasets.synth.recording import apply_chain, describe, draw_chain
from instrec.datasets.synth.render import DRUM_CHANNEL, Note, Part, Renderer, write_audio
from instrec.datasets.synth.soundfonts import bank_name
from instrec.io import writes_folder, atomic_write_json, atomic_write_text

SAMPLE_RATE = 16000
FAMILY_TAGS = {"accordion": "keys", "banjo": "plucked", "bass": "plucked", "cello": "strings", "clarinet": "woodwind",
               "flute": "woodwind", "guitar": "plucked", "mallet_percussion": "percussion", "organ": "keys",
               "piano": "keys", "saxophone": "woodwind", "synthesizer": "synth", "trombone": "brass",
               "trumpet": "brass", "violin": "strings", "voice": "vocal", "drums": "percussion", "cymbals": "percussion"}
DRUM_HIT_TAGS = {35: "kick", 36: "kick", 38: "snare", 40: "snare", 41: "tom", 43: "tom", 45: "tom", 47: "tom",
                 48: "tom", 50: "tom", 42: "hihat", 44: "hihat", 46: "hihat", 49: "crash", 57: "crash",
                 51: "ride", 59: "ride", 52: "china", 55: "splash"}


@dataclass(frozen=True)
class SoundJob:
    index: int
    seed: int
    out_dir: str
    available: dict
    split: str
    recording: bool = True


def render_sound(renderer: Renderer, job: SoundJob) -> dict:
    rng = np.random.default_rng([job.seed, job.index])
    kind = str(rng.choice(["note", "chord", "phrase", "hit", "loop"], p=[0.3, 0.15, 0.3, 0.15, 0.1]))
    pitched = sorted(k for k in job.available if k not in DRUM_KEYS)
    drums = [k for k in job.available if k in DRUM_KEYS]
    if kind in ("hit", "loop") and not drums:
        kind = "note"
    tags: list[str] = []
    if kind in ("hit", "loop"):
        kit = job.available["drums"] if "drums" in job.available else job.available["cymbals"]
        soundfont = kit[int(rng.integers(len(kit)))][0]
        parts = [Part(DRUM_CHANNEL, soundfont, 0, 110)]
        if kind == "hit":
            cls = str(rng.choice(drums))
            key = int(rng.choice(DRUM_KEYS[cls]))
            duration = float(rng.uniform(0.6, 1.5))
            notes = [Note(0.0, 0.2, DRUM_CHANNEL, key, int(rng.integers(70, 128)))]
            tags += [cls, DRUM_HIT_TAGS[key], "one-shot", "percussion", "drum"]
        else:
            duration = float(rng.uniform(2.0, 5.0))
            song = Song(rng, duration)
            notes = drum_part(song) + cymbal_part(song)
            tags += ["drums", "cymbals", "loop", "beat", "percussion", f"{int(round(song.bpm, -1))}bpm", _tempo(song.bpm)]
    else:
        cls = str(rng.choice(pitched))
        soundfont, program = job.available[cls][int(rng.integers(len(job.available[cls])))]
        parts = [Part(0, soundfont, program, 110)]
        low, high = PITCH_RANGES[cls]
        tags += [cls, FAMILY_TAGS[cls]]  # no preset name: the tags describe the content, not the bank
        if kind == "phrase":
            duration = float(rng.uniform(2.0, 5.0))
            song = Song(rng, duration)
            notes = melody_part(song, 0, low, high)
            tags += ["melody", "phrase", f"{int(round(song.bpm, -1))}bpm", _tempo(song.bpm)]
            tags.append("staccato" if np.mean([n.duration_s for n in notes] or [1]) < 0.3 else "legato")
        elif kind == "chord":
            duration = float(rng.uniform(1.5, 4.0))
            song = Song(rng, duration)
            notes = [n for n in chord_part(song, 0, low, high) if n.start_s == 0.0]
            notes = [Note(0.0, duration * 0.8, 0, n.key, n.velocity) for n in notes]
            tags += ["chord", "major" if song.mode[2] == 4 else "minor"]
        else:
            duration = float(rng.uniform(1.0, 3.0))
            pitch = int(rng.integers(low, high + 1))
            notes = [Note(0.0, duration * float(rng.uniform(0.3, 0.9)), 0, pitch, int(rng.integers(50, 128)))]
            tags += ["single-note", "note"]
        mean_pitch = np.mean([n.key for n in notes]) if notes else 60
        tags.append("low" if mean_pitch < 48 else "high" if mean_pitch > 72 else "mid")
    audio = renderer.render(parts, notes, duration)
    chain = draw_chain(rng) if job.recording else {"level_dbfs": round(float(rng.uniform(-6, -0.5)), 2)}
    audio = apply_chain(audio, SAMPLE_RATE, chain)
    tags += describe(chain)
    sound_id = 100000 + job.index
    write_audio(Path(job.out_dir) / "audio" / f"{sound_id}.ogg", audio, SAMPLE_RATE)
    tags = sorted(set(t for t in tags if t))
    return {"id": sound_id, "name": f"{tags[0]} {kind} {sound_id}", "tags": tags, "duration": round(duration, 3),
            "license": "http://creativecommons.org/publicdomain/zero/1.0/", "username": "instrec-synth",
            "samplerate": SAMPLE_RATE, "type": "ogg", "split": job.split,
            "bank": bank_name(renderer.paths[parts[0].soundfont]), "program": parts[0].program, "recording": chain}


def _tempo(bpm: float) -> str:
    return "slow" if bpm < 90 else "fast" if bpm > 130 else "medium"


@writes_folder("dataset")
def synth_freesound(out_dir: str | Path, size: int = 1000, soundfonts=None, seed: int = 0,
                    workers: int | None = None, vocabulary_size: int = 1000, hold_out_bank: str | None = None,
                    recording: bool = True) -> Path:
    """Tagged sounds from every bank; with ``hold_out_bank``, the test split holds that bank's sounds only."""
    out = Path(out_dir)
    renderer = Renderer(soundfonts, SAMPLE_RATE)
    pools = split_pools(renderer, hold_out_bank, ("train", "valid", "test"))
    rng = np.random.default_rng([seed, 1432])
    splits = [split_80_10_10(u) for u in rng.random(size)]
    jobs = [SoundJob(i, seed, str(out), pools[splits[i]], splits[i], recording) for i in range(size)]
    sounds = render_all(render_sound, jobs, renderer, workers, "freesound sounds", resume_in=out)
    vocabulary = tag_vocabulary((s["tags"] for s in sounds if s["split"] == "train"), vocabulary_size)
    atomic_write_text(out / "tag_vocabulary.txt", "".join(t + "\n" for t in vocabulary))
    atomic_write_json(out / "metadata.json", sounds)
    drop_cache(out)
    return out
