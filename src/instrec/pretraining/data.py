"""Stage-1 inputs: the first 0.96 s log-mel example of every note or sound (cached), and the targets of
each objective: word vectors of NSynth qualities, Freesound tag vectors."""

from __future__ import annotations

import sys

import numpy as np
import torch
from tqdm import tqdm

from instrec.audio import load_audio
from instrec.datasets.base import Dataset
from instrec.errors import AudioError
from instrec.frontend import LogMelExamples
from instrec.io import atomic_save_npy, atomic_write_json
from instrec.params import MIN_EXAMPLE_SAMPLES
from instrec.pretraining.wordvectors import QUALITY_WORDS


def first_examples(dataset: Dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 96, 64) log-mel of the first 0.96 s of each item of ``split`` (cached under features/stage1-logmel/)
    and a keep mask (False where the audio could not be read; those are reported once)."""
    cache = dataset.root / "features" / "stage1-logmel"
    values, keep = cache / f"{split}.npy", cache / f"{split}.keep.npy"
    if values.exists() and keep.exists():
        return np.load(values), np.load(keep)
    keys = dataset.keys(split)
    frontend = LogMelExamples()
    out = np.zeros((len(keys), 96, 64), np.float32)
    ok = np.ones(len(keys), bool)
    failed = []
    for i, key in enumerate(tqdm(keys, desc=f"stage-1 log-mel {split}", unit="item")):
        try:
            audio = load_audio(dataset.audio_path(key))[:MIN_EXAMPLE_SAMPLES]
        except AudioError as exc:
            ok[i] = False
            failed.append(str(exc))
            tqdm.write(f"skipped {exc}", file=sys.stderr)
            continue
        with torch.inference_mode():
            out[i] = frontend(torch.from_numpy(audio))[0].numpy()
    atomic_save_npy(values, out)
    atomic_save_npy(keep, ok)
    atomic_write_json(cache / f"{split}.failed.json", failed)
    return out, ok


def quality_targets(examples: dict[str, dict], keys: list[str], vectors: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Target per note: the mean of the word vectors of its qualities (renamed as in the paper); notes with no
    quality in the vocabulary get no target (keep False) and are left out of the textual objective."""
    size = len(next(iter(vectors.values())))
    targets = np.zeros((len(keys), size), np.float32)
    keep = np.zeros(len(keys), bool)
    for i, key in enumerate(keys):
        words = [QUALITY_WORDS[q] for q in examples[key]["qualities_str"] if QUALITY_WORDS.get(q) in vectors]
        if words:
            targets[i] = np.mean([vectors[w] for w in words], axis=0)
            keep[i] = True
    return targets, keep


def tensors(*arrays: np.ndarray, keep: np.ndarray, limit: int = 0) -> list[torch.Tensor]:
    """Select the kept rows (and at most ``limit`` of them) as tensors."""
    rows = np.flatnonzero(keep)
    if limit:
        rows = rows[:limit]
    return [torch.from_numpy(np.ascontiguousarray(a[rows])) for a in arrays]

