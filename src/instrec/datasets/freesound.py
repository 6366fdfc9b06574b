"""Freesound (Font, Roma & Serra 2013) sounds with user tags, as COALA (Favory et al. 2020) used them.

Format: ``metadata.json`` = a list of Freesound API sound records (``id``, ``name``, ``tags``,
``duration``, ``license``, ``username``, optional ``type`` = file extension and ``split``),
``audio/<id>.<type>``, and ``tag_vocabulary.txt`` (one tag per line; if absent, the 1000 most
frequent training tags). Records without ``split`` are assigned train/valid/test 80/10/10 by id.
Export a corpus you downloaded with the Freesound API in this layout, or render one with
``instrec data synth --kind freesound --out DIR``.
"""

from __future__ import annotations

import collections
import json
import zlib
from pathlib import Path

import numpy as np

from instrec.datasets.base import Dataset, require, split_80_10_10

GET_IT = ("export sounds from the Freesound API (https://freesound.org/docs/api/) in this layout, "
          "or render a corpus with `instrec data synth --kind freesound --out DIR`")


def _split_by_id(sound_id: int) -> str:
    return split_80_10_10((zlib.crc32(str(sound_id).encode()) % 10) / 10)


def tag_vocabulary(tag_lists, size: int) -> list[str]:
    """The ``size`` most frequent tags of the given lists, most frequent first (ties alphabetically)."""
    counts = collections.Counter(t for tags in tag_lists for t in tags)
    return [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:size]


class Freesound(Dataset):
    splits = ("train", "valid", "test")

    def __init__(self, root: str | Path, vocabulary_size: int = 1000) -> None:
        self.root = Path(root)
        require(self.root, "Freesound folder", GET_IT)
        records = json.loads(require(self.root / "metadata.json", "sound metadata", GET_IT).read_text())
        self.sounds = {str(r["id"]): {**r, "split": r.get("split") or _split_by_id(int(r["id"]))} for r in records}
        vocab_file = self.root / "tag_vocabulary.txt"
        if vocab_file.exists():
            self.vocabulary = [t.strip() for t in vocab_file.read_text().splitlines() if t.strip()]
        else:
            self.vocabulary = tag_vocabulary((r["tags"] for r in self.sounds.values() if r["split"] == "train"),
                                             vocabulary_size)
        self.tag_index = {t: i for i, t in enumerate(self.vocabulary)}

    def keys(self, split: str) -> list[str]:
        self._check_split(split)
        return sorted((k for k, r in self.sounds.items() if r["split"] == split), key=int)

    def audio_path(self, key: str) -> Path:
        return self.root / "audio" / f"{key}.{self.sounds[key].get('type', 'ogg')}"

    def tag_matrix(self, split: str) -> np.ndarray:
        """(N, vocabulary) multi-hot float32 in ``keys(split)`` order; tags outside the vocabulary are dropped."""
        keys = self.keys(split)
        out = np.zeros((len(keys), len(self.vocabulary)), np.float32)
        for row, key in enumerate(keys):
            for tag in self.sounds[key]["tags"]:
                if tag in self.tag_index:
                    out[row, self.tag_index[tag]] = 1.0
        return out
