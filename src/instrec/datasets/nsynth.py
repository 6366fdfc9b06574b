"""NSynth (Engel et al. 2017): 4 s single notes at 16 kHz with family, source and ten qualities.

Reads ``nsynth-{train,valid,test}/examples.json`` + ``audio/<note_str>.wav`` (the real download,
~305k notes, or what ``instrec data synth --kind nsynth`` renders).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from instrec.datasets.base import Dataset, require
from instrec.errors import InstrecError

QUALITIES = ("bright", "dark", "distortion", "fast_decay", "long_release", "multiphonic", "nonlinear_env",
             "percussive", "reverb", "tempo-synced")
GET_IT = ("download NSynth from https://magenta.tensorflow.org/datasets/nsynth (json/wav archives) and unpack "
          "the nsynth-* folders there, or render one with `instrec data synth --kind nsynth --out DIR`")


class NSynth(Dataset):
    splits = ("train", "valid", "test")

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        require(self.root, "NSynth folder", GET_IT)
        present = [s for s in self.splits if (self.root / f"nsynth-{s}" / "examples.json").exists()]
        if not present:
            raise InstrecError(f"{self.root / 'nsynth-train' / 'examples.json'}: missing NSynth metadata; {GET_IT}")
        self._examples: dict[str, dict] = {}

    def examples(self, split: str) -> dict[str, dict]:
        """note_str -> the NSynth record (note, pitch, velocity, qualities, family...)."""
        self._check_split(split)
        if split not in self._examples:
            path = require(self.root / f"nsynth-{split}" / "examples.json", f"NSynth {split} metadata", GET_IT)
            self._examples[split] = json.loads(path.read_text())
        return self._examples[split]

    def keys(self, split: str) -> list[str]:
        return sorted(self.examples(split))

    def split_of(self, note_str: str) -> str:
        for split in self.splits:
            if (self.root / f"nsynth-{split}" / "audio" / f"{note_str}.wav").exists():
                return split
        raise InstrecError(f"{self.root}: no audio for note {note_str}; {GET_IT}")

    def audio_path(self, key: str, split: str | None = None) -> Path:
        return self.root / f"nsynth-{split or self.split_of(key)}" / "audio" / f"{key}.wav"

    def qualities(self, split: str) -> np.ndarray:
        """(N, 10) int8 quality indicators in ``keys(split)`` order."""
        ex = self.examples(split)
        return np.array([ex[k]["qualities"] for k in self.keys(split)], dtype=np.int8).reshape(-1, len(QUALITIES))
