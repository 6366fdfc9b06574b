"""Cached, resumable feature extraction over whole datasets.

A features store is a folder ``<dataset>/features/<representation key>/`` holding, per split,
``<split>.npy`` (clips, examples per clip, *output shape; memory-mapped when read), ``<split>.keys.txt``
and ``<split>.failed.json`` (clips whose audio could not be read: zero-filled, reported, excluded by
the loaders), plus ``meta.json`` and, for float features, ``norm_stats.npz`` (per-dimension minimum and
maximum over the training split, for the paper's [0, 1] normalisation).

Interrupted, the extraction resumes: rows go into ``<split>.npy.partial`` (a memory-mapped .npy) and
``<split>.progress.json`` records, atomically after each batch, how many rows are final. Rows are computed
independently of batching, so a resumed run ends with the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from instrec import params as P
from instrec.audio import load_audio
from instrec.datasets.base import Dataset
from instrec.errors import AudioError, InstrecError
from instrec.frontend import LogMelExamples
from instrec.io import atomic_path, atomic_write_json, atomic_write_text, load_npz, nonfinite, one_writer
from instrec.representations.postprocess import fit_min_max
from instrec.representations.registry import Representation

OPENMIC_EXAMPLES_PER_CLIP = 10


def store_dir(dataset: Dataset, representation: Representation) -> Path:
    return dataset.root / "features" / representation.key


def open_dataset(root: str | Path) -> Dataset:
    """The loader that fits the folder: OpenMIC (class-map.json), NSynth (nsynth-*/), Freesound (metadata.json)."""
    root = Path(root)
    if (root / "class-map.json").exists():
        from instrec.datasets.openmic import OpenMIC

        return OpenMIC(root)
    if any((root / f"nsynth-{s}").is_dir() for s in ("train", "valid", "test")):
        from instrec.datasets.nsynth import NSynth

        return NSynth(root)
    if (root / "metadata.json").exists():
        from instrec.datasets.freesound import Freesound

        return Freesound(root)
    raise InstrecError(f"{root}: not a dataset folder (no class-map.json, nsynth-*/ or metadata.json); "
                       "render one with `instrec data synth` or point at an OpenMIC/NSynth/Freesound download")


class _Clips:
    """Decodes clips into fixed-length log-mel examples."""

    def __init__(self, dataset: Dataset, examples_per_clip: int, peak_normalize: bool, frontend: LogMelExamples):
        self.dataset, self.examples_per_clip = dataset, examples_per_clip
        self.peak_normalize, self.frontend = peak_normalize, frontend
        self.samples = P.STFT_WINDOW_SAMPLES + (examples_per_clip * P.EXAMPLE_FRAMES - 1) * P.STFT_HOP_SAMPLES

    def __call__(self, keys: list[str]) -> tuple[torch.Tensor, dict[int, str]]:
        """(examples (clips, examples_per_clip, 96, 64), {row in the batch: "key: why"} for unreadable clips)."""
        batch = np.zeros((len(keys), self.samples), np.float32)
        failed = {}
        for i, key in enumerate(keys):
            try:
                audio = load_audio(self.dataset.audio_path(key), peak_normalize=self.peak_normalize)
            except AudioError as exc:
                failed[i] = f"{key}: {exc}"
                continue
            batch[i, : min(audio.size, self.samples)] = audio[: self.samples]
        with torch.inference_mode():
            examples = self.frontend(torch.from_numpy(batch))[:, : self.examples_per_clip]
        return examples, failed


def extract_split(dataset: Dataset, split: str, representation: Representation, out_dir: Path,
                  examples_per_clip: int = OPENMIC_EXAMPLES_PER_CLIP, batch_clips: int = 16,
                  peak_normalize: bool = False, after_batch: Callable[[int], None] | None = None) -> Path:
    """Embed every clip of ``split`` into ``out_dir/<split>.npy``; resumes a partial run. ``after_batch`` is
    called with the count of clips done once each batch is safely on disk (tests interrupt there, as a kill would)."""
    final = out_dir / f"{split}.npy"
    if final.exists():
        return final
    keys = dataset.keys(split)
    shape = (len(keys), examples_per_clip, *representation.output_shape)
    partial = out_dir / f"{split}.npy.partial"
    progress_file = out_dir / f"{split}.progress.json"
    progress = {"done": 0, "failed": [], "shape": list(shape)}
    if partial.exists() and progress_file.exists():
        saved = json.loads(progress_file.read_text())
        if saved.get("shape") == list(shape):
            progress = saved
    if progress["done"] == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        np.lib.format.open_memmap(partial, mode="w+", dtype=representation.dtype, shape=shape).flush()
    rows = np.lib.format.open_memmap(partial, mode="r+")
    decode = _Clips(dataset, examples_per_clip, peak_normalize, LogMelExamples())
    starts = list(range(progress["done"], len(keys), batch_clips))
    # Decoding and the front end run in line: they cost ~6% of the forward pass; a helper thread
    # competes with the network for the two cores and made the whole slower (benchmarks/bench_embed.py).
    with tqdm(total=len(keys), initial=progress["done"], unit="clip", desc=f"{representation.key} {split}") as bar:
        for start in starts:
            examples, failed = decode(keys[start:start + batch_clips])
            features = representation.embed(examples.reshape(-1, *examples.shape[2:]))
            features = features.reshape(examples.shape[0], examples_per_clip, *representation.output_shape)
            for row in failed:
                features[row] = 0
            if nonfinite({"features": np.asarray(features)}):
                raise InstrecError(f"{out_dir}: {representation.key} gave NaN or infinite features for clips "
                                   f"{keys[start]}..; not written (check the weights)")
            rows[start:start + len(features)] = features
            rows.flush()
            progress["done"] = start + len(features)
            progress["failed"] += list(failed.values())
            atomic_write_json(progress_file, progress)
            for message in failed.values():
                tqdm.write(f"skipped {message}", file=sys.stderr)
            bar.update(len(features))
            if after_batch is not None:
                after_batch(progress["done"])
    del rows
    atomic_write_json(out_dir / f"{split}.failed.json", progress["failed"])
    atomic_write_text(out_dir / f"{split}.keys.txt", "".join(k + "\n" for k in keys))
    os.replace(partial, final)
    progress_file.unlink(missing_ok=True)
    return final


def extract(dataset: Dataset, representation: Representation, splits: list[str] | None = None,
            examples_per_clip: int = OPENMIC_EXAMPLES_PER_CLIP, batch_clips: int = 16,
            peak_normalize: bool = False, write_npz: bool = False) -> Path:
    """Embed every split of ``dataset`` into its features store; returns the store folder."""
    out = store_dir(dataset, representation)
    with one_writer(out, "features store"):
        return _extract(dataset, representation, out, splits or list(dataset.splits), examples_per_clip,
                        batch_clips, peak_normalize, write_npz)


def _extract(dataset, representation, out, splits, examples_per_clip, batch_clips, peak_normalize, write_npz) -> Path:
    for split in splits:
        extract_split(dataset, split, representation, out, examples_per_clip, batch_clips, peak_normalize)
    if representation.dtype == np.float32 and "train" in splits and not (out / "norm_stats.npz").exists():
        stats = fit_min_max(FeatureStore(out).features("train"))
        with atomic_path(out / "norm_stats.npz") as tmp, open(tmp, "wb") as f:
            np.savez(f, **stats)
    atomic_write_json(out / "meta.json", {"representation": representation.describe(), "dataset": str(dataset.root),
                                          "examples_per_clip": examples_per_clip, "peak_normalize": peak_normalize,
                                          "dtype": representation.dtype.name})
    if write_npz:
        write_openmic_x(dataset, FeatureStore(out))
    return out


class FeatureStore:
    """Read access to a features store."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InstrecError(f"{self.root}: no features store; run `instrec extract` first")

    def features(self, split: str) -> np.ndarray:
        path = self.root / f"{split}.npy"
        if not path.exists():
            raise InstrecError(f"{path}: split {split!r} was not extracted; run `instrec extract` for it")
        return np.load(path, mmap_mode="r")

    def keys(self, split: str) -> list[str]:
        return (self.root / f"{split}.keys.txt").read_text().split()

    def failed(self, split: str) -> list[str]:
        path = self.root / f"{split}.failed.json"
        return [m.split(":", 1)[0] for m in json.loads(path.read_text())] if path.exists() else []

    def norm_stats(self) -> dict[str, np.ndarray] | None:
        path = self.root / "norm_stats.npz"
        return load_npz(path) if path.exists() else None

    @property
    def meta(self) -> dict:
        return json.loads((self.root / "meta.json").read_text())


def write_openmic_x(dataset: Dataset, store: FeatureStore) -> Path:
    """Add X (clips, 10, 128) in sample_key order to ``openmic-2018.npz``, as in the OpenMIC release."""
    npz_path = dataset.root / "openmic-2018.npz"
    if not npz_path.exists():
        raise InstrecError(f"{npz_path}: no OpenMIC npz to write X into (only OpenMIC-format folders have one)")
    arrays = load_npz(npz_path)
    arrays.pop("X", None)
    keys = [str(k) for k in arrays["sample_key"]]
    row_of = {k: i for i, k in enumerate(keys)}
    x = None
    for split in dataset.splits:
        feats = store.features(split)
        if feats.ndim != 3:
            raise InstrecError(f"{store.root}: X in the OpenMIC layout needs (clips, 10, 128) embeddings, not {feats.shape}")
        if x is None:
            x = np.zeros((len(keys), *feats.shape[1:]), feats.dtype)
        for i, key in enumerate(store.keys(split)):
            x[row_of[key]] = feats[i]
    with atomic_path(npz_path) as tmp, open(tmp, "wb") as f:
        np.savez(f, X=x, **arrays)
    return npz_path
