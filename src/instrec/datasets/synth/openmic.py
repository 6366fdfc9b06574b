"""Render an OpenMIC-2018-format dataset: 10 s clips of 1-4 instruments with weak, partial labels.

Layout (as the real download): ``audio/<key[:3]>/<key>.ogg``, ``openmic-2018-aggregated-labels.csv``,
``class-map.json``, ``partitions/split01_{train,test}.csv``, ``partitions/split01_val_keys.csv``,
``openmic-2018.npz`` (Y_true, Y_mask, sample_key; X is added by ``instrec extract``), plus
``synth-metadata.json`` recording what was rendered in each clip.

Labels imitate OpenMIC's crowd annotation: each clip labels a subset of the classes. A present
instrument is labelled with probability 0.85 (at least one per clip) with relevance in [0.6, 1];
1-3 absent classes are labelled negative with relevance in [0, 0.3]. A class that the SoundFonts
cannot produce is never labelled, in any clip.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instrec.datasets.classes import DRUM_KEYS, GM_PROGRAMS, OPENMIC_CLASSES
from instrec.datasets.synth.music import Song, part_notes
from instrec.datasets.synth.pool import render_all
from instrec.datasets.synth.render import DRUM_CHANNEL, Part, Renderer, add_reverb, write_audio
from instrec.io import atomic_path, atomic_write_json, atomic_write_text

CLIP_SECONDS = 10.0


def available_classes(renderer: Renderer) -> dict[str, list[tuple[int, int]]]:
    """class -> [(soundfont index, program)] the loaded SoundFonts can play (drum classes: program -1)."""
    available: dict[str, list[tuple[int, int]]] = {}
    for name in OPENMIC_CLASSES:
        if name in DRUM_KEYS:
            options = [(s, -1) for s in range(len(renderer.soundfonts)) if renderer.has_drums(s)]
        else:
            options = [(s, p) for s in range(len(renderer.soundfonts)) for p in GM_PROGRAMS[name]
                       if renderer.has_program(s, p)]
        if options:
            available[name] = options
    return available


@dataclass(frozen=True)
class ClipJob:
    index: int
    seed: int
    out_dir: str
    available: dict
    sample_rate: int
    reverb_probability: float = 0.3
    exclude: str | None = None  # render without this class (tests: energy where labelled)
    write: bool = True


def sample_key(index: int) -> str:
    return f"{index:06d}_{(index * 3840) % 30720}"


def render_clip(renderer: Renderer, job: ClipJob) -> dict:
    """Render one clip; returns its key, labels and what was played (and the audio if not written)."""
    rng = np.random.default_rng([job.seed, job.index])
    names = sorted(job.available)
    count = int(rng.choice([1, 2, 3, 4], p=[0.2, 0.35, 0.3, 0.15]))
    present = sorted(rng.choice(names, size=min(count, len(names)), replace=False).tolist())
    song = Song(rng, CLIP_SECONDS)
    parts, notes, played = [], [], []
    channel = 0
    for name in present:
        options = job.available[name]
        soundfont, program = options[int(rng.integers(len(options)))]
        if program < 0:
            ch = DRUM_CHANNEL
        else:
            ch = channel
            channel += 1
        part_events = part_notes(song, name, ch)
        volume = int(rng.integers(70, 121))
        played.append({"class": name, "soundfont": soundfont, "program": program, "volume": volume,
                       "notes": len(part_events)})
        if name == job.exclude:
            continue
        if not any(p.channel == ch for p in parts):
            parts.append(Part(ch, soundfont, max(program, 0), volume))
        notes.extend(part_events)
    audio = renderer.render(parts, notes, CLIP_SECONDS)
    reverb = bool(rng.random() < job.reverb_probability)
    if reverb:
        audio = add_reverb(audio, job.sample_rate, rng)
    peak = float(np.max(np.abs(audio)))
    gain = float(rng.uniform(0.3, 0.9)) / peak if peak > 0 else 1.0
    audio = (audio * gain).astype(np.float32)
    labels = _weak_labels(rng, present, names)
    key = sample_key(job.index)
    result = {"sample_key": key, "labels": labels, "bpm": round(song.bpm, 2), "reverb": reverb, "parts": played}
    if job.write:
        write_audio(Path(job.out_dir) / "audio" / key[:3] / f"{key}.ogg", audio, job.sample_rate)
    else:
        result["audio"] = audio
    return result


def _weak_labels(rng: np.random.Generator, present: list[str], available: list[str]) -> dict[str, float]:
    labels = {name: round(float(rng.uniform(0.6, 1.0)), 4) for name in present if rng.random() < 0.85}
    if not labels:
        name = present[int(rng.integers(len(present)))]
        labels[name] = round(float(rng.uniform(0.6, 1.0)), 4)
    absent = [n for n in available if n not in present]
    for name in rng.choice(absent, size=min(int(rng.integers(1, 4)), len(absent)), replace=False):
        labels[str(name)] = round(float(rng.uniform(0.0, 0.3)), 4)
    return dict(sorted(labels.items()))


def synth_openmic(out_dir: str | Path, size: int = 400, soundfonts=None, seed: int = 0,
                  sample_rate: int = 16000, workers: int | None = None, test_fraction: float = 0.25,
                  val_fraction: float = 0.15) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    renderer = Renderer(soundfonts, sample_rate)
    available = available_classes(renderer)
    jobs = [ClipJob(i, seed, str(out), available, sample_rate) for i in range(size)]
    clips = render_all(render_clip, jobs, [str(p) for p in renderer.paths], sample_rate, workers, "openmic clips")
    write_openmic_tables(out, clips, seed, test_fraction, val_fraction)
    atomic_write_json(out / "synth-metadata.json", {
        "kind": "openmic", "size": size, "seed": seed, "sample_rate": sample_rate,
        "soundfonts": [p.name for p in renderer.paths],
        "available_classes": sorted(available),
        "never_labelled": [c for c in OPENMIC_CLASSES if c not in available],
        "clips": clips,
    })
    return out


def write_openmic_tables(out: Path, clips: list[dict], seed: int, test_fraction: float, val_fraction: float) -> None:
    """Labels CSV, class map, partitions and the npz, in the OpenMIC-2018 layout."""
    keys = sorted(c["sample_key"] for c in clips)
    by_key = {c["sample_key"]: c for c in clips}
    with atomic_path(out / "openmic-2018-aggregated-labels.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sample_key", "instrument", "relevance", "num_responses"])
        for key in keys:
            for name, relevance in by_key[key]["labels"].items():
                writer.writerow([key, name, relevance, 3])
    atomic_write_text(out / "class-map.json", json.dumps({c: i for i, c in enumerate(OPENMIC_CLASSES)}, indent=4))
    order = np.random.default_rng([seed, 2018]).permutation(len(keys))
    n_test = int(round(test_fraction * len(keys)))
    test = sorted(keys[i] for i in order[:n_test])
    train = sorted(keys[i] for i in order[n_test:])
    val = sorted(train[i] for i in np.random.default_rng([seed, 2019]).permutation(len(train))[: int(round(val_fraction * len(train)))])
    for name, subset in (("split01_train.csv", train), ("split01_test.csv", test), ("split01_val_keys.csv", val)):
        atomic_write_text(out / "partitions" / name, "".join(k + "\n" for k in subset))
    y_true = np.full((len(keys), len(OPENMIC_CLASSES)), 0.5, np.float32)
    y_mask = np.zeros_like(y_true, dtype=bool)
    for row, key in enumerate(keys):
        for name, relevance in by_key[key]["labels"].items():
            y_true[row, OPENMIC_CLASSES.index(name)] = relevance
            y_mask[row, OPENMIC_CLASSES.index(name)] = True
    with atomic_path(out / "openmic-2018.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, Y_true=y_true, Y_mask=y_mask, sample_key=np.array(keys))
