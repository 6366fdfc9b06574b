"""Render an OpenMIC-2018-format dataset: 10 s recordings of one to five instruments.

Layout (as the real download): ``audio/<key[:3]>/<key>.ogg``, ``openmic-2018-aggregated-labels.csv``,
``class-map.json``, ``partitions/split01_{train,test}.csv``, ``partitions/split01_val_keys.csv``,
``openmic-2018.npz`` (Y_true, Y_mask, sample_key; X is added by ``instrec extract``), plus
``synth-metadata.json`` with every parameter of every clip and its full labels.

A clip is an arrangement -- a solo instrument (held notes, one-shots or a phrase), a duo or small
ensemble, or a full band -- whose every part draws its own bank (so one clip mixes banks), program,
register and performance (articulation, dynamics, expression, vibrato; ``music.draw_performance``), then a
recording chain (room, microphone, noise, band limit, compression, level, codec; ``recording.py``).

Labels: ``labels="partial"`` imitates OpenMIC's crowd annotation (a present instrument is labelled with
probability 0.85, at least one per clip, relevance in [0.6, 1]; 1-3 absent classes are labelled
negative, relevance in [0, 0.3]); ``labels="full"`` labels every class the pool can play (1 or 0).
The metadata always holds the full labels. A class no bank in the pool can play is never labelled.

``hold_out_bank``: every test clip is played by that bank's group alone, and no train or validation
clip uses it -- the generalisation protocol for timbres never heard in training.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instrec.datasets.classes import DRUM_KEYS, GM_PROGRAMS, OPENMIC_CLASSES
from instrec.datasets.synth.music import (SOLO_MATERIALS, Song, draw_performance, ensemble_notes, part_notes, perform,
                                          register, solo_drums, solo_notes)
from instrec.datasets.synth.pool import drop_cache, render_all
from instrec.datasets.synth.recording import apply_chain, draw_chain
from instrec.datasets.synth.render import DRUM_CHANNEL, Part, Renderer, write_audio
from instrec.datasets.synth.soundfonts import bank_name, split_banks
from instrec.io import writes_folder, atomic_path, atomic_write_json, atomic_write_text

CLIP_SECONDS = 10.0
ARRANGEMENTS = ("solo", "ensemble", "band")


def available_classes(renderer: Renderer, soundfonts: list[int] | None = None) -> dict[str, list[tuple[int, int]]]:
    """class -> [(soundfont index, program)] the loaded SoundFonts (or the listed ones) can play (drums: -1)."""
    indices = range(len(renderer.soundfonts)) if soundfonts is None else soundfonts
    available: dict[str, list[tuple[int, int]]] = {}
    for name in OPENMIC_CLASSES:
        if name in DRUM_KEYS:
            options = [(s, -1) for s in indices if renderer.has_drums(s)]
        else:
            options = [(s, p) for s in indices for p in GM_PROGRAMS[name] if renderer.has_program(s, p)]
        if options:
            available[name] = options
    return available


def split_pools(renderer: Renderer, hold_out_bank: str | None,
                splits: tuple[str, ...] = ("train", "validation", "test")) -> dict[str, dict]:
    """split -> available classes: all banks everywhere, or the held-out bank's group only in test."""
    banks = split_banks(renderer.paths, hold_out_bank, splits)
    return {split: available_classes(renderer, banks[split]) for split in splits}


def assign_splits(size: int, seed: int, test_fraction: float, val_fraction: float) -> list[str]:
    """Each clip's partition, decided before rendering (the hold-out protocol needs it)."""
    order = np.random.default_rng([seed, 2018]).permutation(size)
    n_test = int(round(test_fraction * size))
    splits = ["train"] * size
    for i in order[:n_test]:
        splits[i] = "test"
    train = sorted(order[n_test:].tolist())
    for i in np.random.default_rng([seed, 2019]).permutation(len(train))[: int(round(val_fraction * len(train)))]:
        splits[train[i]] = "validation"
    return splits


@dataclass(frozen=True)
class ClipJob:
    index: int
    seed: int
    out_dir: str
    available: dict
    sample_rate: int
    split: str = "train"
    labels: str = "partial"  # partial | full
    recording: bool = True  # apply the recording chain
    arrangements: tuple[str, ...] = ARRANGEMENTS
    exclude: str | None = None  # render without this class (tests: energy where labelled)
    write: bool = True


def sample_key(index: int) -> str:
    return f"{index:06d}_{(index * 3840) % 30720}"


def _choose_option(rng: np.random.Generator, options: list[tuple[int, int]]) -> tuple[int, int]:
    """A bank uniformly among those that can play the class, then one of its programs."""
    banks = sorted({s for s, _ in options})
    bank = banks[int(rng.integers(len(banks)))]
    programs = [o for o in options if o[0] == bank]
    return programs[int(rng.integers(len(programs)))]


def render_clip(renderer: Renderer, job: ClipJob) -> dict:
    """Render one clip; returns its key, labels and every parameter (and the audio if not written)."""
    rng = np.random.default_rng([job.seed, job.index])
    names = sorted(job.available)
    arrangement = str(rng.choice(job.arrangements))
    if arrangement == "solo":
        count = 1
    elif arrangement == "ensemble":
        count = int(rng.choice([2, 3], p=[0.6, 0.4]))
    else:
        count = int(rng.choice([3, 4, 5], p=[0.45, 0.35, 0.2]))
    melodic = [n for n in names if n not in DRUM_KEYS]
    pick_from = melodic if arrangement == "ensemble" and len(melodic) >= count else names
    present = sorted(rng.choice(pick_from, size=min(count, len(pick_from)), replace=False).tolist())
    material = str(rng.choice(SOLO_MATERIALS)) if arrangement == "solo" else "arrangement"
    song = Song(rng, CLIP_SECONDS)
    parts, notes, controls, played = [], [], [], []
    channel = 0
    for name in present:
        soundfont, program = _choose_option(rng, job.available[name])
        drums = program < 0
        ch = DRUM_CHANNEL if drums else channel
        channel += 0 if drums else 1
        if drums:
            low_high = None
            events = solo_drums(song, name, material) if arrangement == "solo" else part_notes(song, name, ch)
        else:
            low_high = register(rng, name)
            events = (solo_notes(song, ch, *low_high, material) if arrangement == "solo"
                      else part_notes(song, name, ch) if arrangement == "band"
                      else ensemble_notes(song, name, ch, *low_high))
        perf = draw_performance(rng, name)
        events, part_controls = perform(events, perf, CLIP_SECONDS, ch, percussive=drums)
        volume = int(rng.integers(80, 128)) if arrangement == "solo" else int(rng.integers(70, 121))
        played.append({"class": name, "bank": bank_name(renderer.paths[soundfont]), "soundfont": soundfont,
                       "program": program, "preset": renderer.preset_name(soundfont, max(program, 0),
                                                                          128 if drums else 0),
                       "register": list(low_high) if low_high else None, "volume": volume, "performance": perf,
                       "notes": len(events)})
        if name == job.exclude:
            continue
        if not any(p.channel == ch for p in parts):
            parts.append(Part(ch, soundfont, max(program, 0), volume))
        notes.extend(events)
        controls.extend(part_controls)
    audio = renderer.render(parts, notes, CLIP_SECONDS, controls)
    chain = draw_chain(rng) if job.recording else {"level_dbfs": round(float(rng.uniform(-10, -1)), 2)}
    audio = apply_chain(audio, job.sample_rate, chain)
    full = {name: int(name in present) for name in names}
    labels = _weak_labels(rng, present, names) if job.labels == "partial" else {k: float(v) for k, v in full.items()}
    key = sample_key(job.index)
    result = {"sample_key": key, "split": job.split, "arrangement": arrangement, "material": material,
              "labels": labels, "labels_full": full, "bpm": round(song.bpm, 2), "song_root": song.root,
              "parts": played, "recording": chain}
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


@writes_folder("dataset")
def synth_openmic(out_dir: str | Path, size: int = 400, soundfonts=None, seed: int = 0,
                  sample_rate: int = 16000, workers: int | None = None, test_fraction: float = 0.25,
                  val_fraction: float = 0.15, hold_out_bank: str | None = None, labels: str = "partial",
                  recording: bool = True, arrangements: tuple[str, ...] = ARRANGEMENTS) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    renderer = Renderer(soundfonts, sample_rate)
    pools = split_pools(renderer, hold_out_bank)
    splits = assign_splits(size, seed, test_fraction, val_fraction)
    jobs = [ClipJob(i, seed, str(out), pools[splits[i]], sample_rate, splits[i], labels, recording, tuple(arrangements))
            for i in range(size)]
    clips = render_all(render_clip, jobs, renderer, workers, "openmic clips", resume_in=out)
    write_openmic_tables(out, clips)
    every = sorted(set(pools["train"]) | set(pools["test"]))
    atomic_write_json(out / "synth-metadata.json", {
        "kind": "openmic", "size": size, "seed": seed, "sample_rate": sample_rate,
        "soundfonts": [p.name for p in renderer.paths], "banks": [bank_name(p) for p in renderer.paths],
        "hold_out_bank": hold_out_bank, "labels": labels, "recording": recording, "arrangements": list(arrangements),
        "available_classes": every, "available_by_split": {k: sorted(v) for k, v in pools.items()},
        "never_labelled": [c for c in OPENMIC_CLASSES if c not in every],
        "clips": clips,
    })
    drop_cache(out)
    return out


def write_openmic_tables(out: Path, clips: list[dict]) -> None:
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
    test = [k for k in keys if by_key[k]["split"] == "test"]
    train = [k for k in keys if by_key[k]["split"] != "test"]
    val = [k for k in keys if by_key[k]["split"] == "validation"]
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
