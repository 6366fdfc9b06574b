"""OpenMIC-2018 (Humphrey, Durand & McFee, ISMIR 2018): 20,000 10 s clips, 20 instruments, partial labels.

Reads the real download (Zenodo record 1432913, ~2.6 GB: ``openmic-2018.npz``, aggregated labels,
partitions, class map, ``audio/``, ``vggish/``) and the folders ``instrec data synth --kind openmic``
renders, through the same code. Splits: ``train`` and ``validation`` (the split of Gururani et al.
2019, shipped with the package; a folder may carry its own ``partitions/split01_val_keys.csv``) and
``test`` (``split01_test``). Unlabelled entries have ``Y_mask`` False (and ``Y_true`` 0.5).
"""

from __future__ import annotations

import csv
import json
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from instrec.datasets.base import Dataset, require
from instrec.errors import InstrecError

GET_IT = ("download OpenMIC-2018 from https://zenodo.org/record/1432913 and unpack it there, "
          "or render a small one with `instrec data synth --kind openmic --out DIR`")
NPZ = "openmic-2018.npz"
LABELS_CSV = "openmic-2018-aggregated-labels.csv"


@dataclass
class Split:
    """The clips of one split: keys, row indices into the dataset, labels and label mask (N, 20)."""

    name: str
    keys: list[str]
    rows: np.ndarray
    y_true: np.ndarray
    y_mask: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        """Binary targets: relevance >= 0.5 (only meaningful where ``y_mask``)."""
        return self.y_true >= 0.5


def _read_keys(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


class OpenMIC(Dataset):
    splits = ("train", "validation", "test")

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        require(self.root, "OpenMIC-2018 folder", GET_IT)
        map_file = require(self.root / "class-map.json", "class map", GET_IT)
        try:
            class_map = json.loads(map_file.read_text())
            self.classes: tuple[str, ...] = tuple(sorted(class_map, key=class_map.__getitem__))
        except (ValueError, TypeError, AttributeError) as exc:
            raise InstrecError(f"{map_file}: not a class map (JSON object class -> index) ({exc}); restore it") from None
        train = _read_keys(require(self.root / "partitions" / "split01_train.csv", "train partition", GET_IT))
        test = _read_keys(require(self.root / "partitions" / "split01_test.csv", "test partition", GET_IT))
        own_val = self.root / "partitions" / "split01_val_keys.csv"
        if own_val.exists():
            val = set(_read_keys(own_val))
        else:
            val = set(_read_keys(resources.files("instrec") / "data/openmic-2018/partitions/split01_val_keys.csv"))
        self.X: np.ndarray | None = None
        if (self.root / NPZ).exists():
            self._read_npz(self.root / NPZ)
        else:
            self.sample_keys = sorted(set(train) | set(test))
        self.row_of = {k: i for i, k in enumerate(self.sample_keys)}
        if not (self.root / NPZ).exists():
            self.y_true, self.y_mask = self._labels_from_csv(
                require(self.root / LABELS_CSV, "aggregated labels (or openmic-2018.npz)", GET_IT))
        missing = [k for k in train + test if k not in self.row_of]
        if missing:
            raise InstrecError(f"{self.root / NPZ}: {len(missing)} partition keys (e.g. {missing[0]}) have no labels; "
                               "the npz and partitions come from different versions: re-download or re-render")
        self._split_keys = {
            "train": [k for k in train if k not in val],
            "validation": [k for k in train if k in val],
            "test": test,
        }

    def _read_npz(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as data:
                self.sample_keys = [str(k) for k in data["sample_key"]]
                self.y_true = data["Y_true"].astype(np.float32)
                self.y_mask = data["Y_mask"].astype(bool)
                if "X" in data.files:
                    self.X = data["X"]
        except KeyError:
            with np.load(path, allow_pickle=False) as data:
                missing = [k for k in ("sample_key", "Y_true", "Y_mask") if k not in data.files]
            raise InstrecError(f"{path}: lacks the array {', '.join(missing)}; expected sample_key, Y_true, Y_mask "
                               "(and X)") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise InstrecError(f"{path}: not a readable npz ({str(exc)[:120]}); re-download it") from None
        expected = (len(self.sample_keys), len(self.classes))
        if self.y_true.shape != expected or self.y_mask.shape != expected:
            raise InstrecError(f"{path}: Y_true {self.y_true.shape} and Y_mask {self.y_mask.shape} must both be "
                               f"{expected} (clips x the {len(self.classes)} classes of class-map.json); re-download it")
        if self.X is not None and len(self.X) != len(self.sample_keys):
            raise InstrecError(f"{path}: X has {len(self.X)} rows for {len(self.sample_keys)} sample keys; re-download it")
        if not np.all((self.y_true >= 0) & (self.y_true <= 1)):
            raise InstrecError(f"{path}: Y_true holds values outside [0, 1] (or NaN); relevances must be in [0, 1]")

    def _labels_from_csv(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        y_true = np.full((len(self.sample_keys), len(self.classes)), 0.5, np.float32)
        y_mask = np.zeros(y_true.shape, bool)
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"sample_key", "instrument", "relevance"} <= set(reader.fieldnames):
                raise InstrecError(f"{path}: needs the columns sample_key, instrument, relevance")
            for line, rec in enumerate(reader, start=2):
                row = self.row_of.get(rec["sample_key"])
                if row is None:
                    continue
                if rec["instrument"] not in self.classes:
                    raise InstrecError(f"{path}:{line}: unknown instrument {rec['instrument']!r}; use the classes of "
                                       "class-map.json")
                try:
                    relevance = float(rec["relevance"])
                except (TypeError, ValueError):
                    relevance = float("nan")
                if not 0 <= relevance <= 1:
                    raise InstrecError(f"{path}:{line}: relevance {rec['relevance']!r} must be a number in [0, 1]")
                col = self.classes.index(rec["instrument"])
                y_true[row, col] = relevance
                y_mask[row, col] = True
        return y_true, y_mask

    def keys(self, split: str) -> list[str]:
        self._check_split(split)
        return list(self._split_keys[split])

    def split(self, name: str) -> Split:
        keys = self.keys(name)
        rows = np.array([self.row_of[k] for k in keys], dtype=np.int64)
        return Split(name, keys, rows, self.y_true[rows], self.y_mask[rows])

    def audio_path(self, key: str) -> Path:
        return self.root / "audio" / key[:3] / f"{key}.ogg"

    def released_features(self, key: str) -> np.ndarray:
        """The VGGish features OpenMIC released for ``key`` (10, 128) uint8, from ``vggish/<xxx>/<key>.json``."""
        path = require(self.root / "vggish" / key[:3] / f"{key}.json", "released VGGish features", GET_IT)
        return np.asarray(json.loads(path.read_text())["features"], dtype=np.uint8)
