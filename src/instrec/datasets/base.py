"""What every dataset loader offers: named splits, item keys per split, an audio path per key."""

from __future__ import annotations

from pathlib import Path

from instrec.errors import InstrecError


def require(path: Path, what: str, where_to_get: str) -> Path:
    """Raise a one-line error naming ``path`` if it does not exist."""
    if not path.exists():
        raise InstrecError(f"{path}: missing {what}; {where_to_get}")
    return path


def split_80_10_10(u: float) -> str:
    """train / valid / test for a uniform draw ``u`` in [0, 1): 80/10/10."""
    return "train" if u < 0.8 else "valid" if u < 0.9 else "test"


class Dataset:
    """Base of the loaders: ``splits``, ``keys(split)``, ``audio_path(key)``."""

    splits: tuple[str, ...] = ()
    root: Path

    def keys(self, split: str) -> list[str]:
        raise NotImplementedError

    def audio_path(self, key: str) -> Path:
        raise NotImplementedError

    def _check_split(self, split: str) -> None:
        if split not in self.splits:
            raise InstrecError(f"{self.root}: no split {split!r}; choose one of {', '.join(self.splits)}")
