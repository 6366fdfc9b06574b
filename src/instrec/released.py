"""The VGGish features OpenMIC-2018 released (X in openmic-2018.npz: AudioSet VGGish, PCA + 8-bit) as a
features store, so the AudioSet rows of the study need no weights and no audio decoding."""

from __future__ import annotations

import numpy as np

from instrec.datasets.openmic import OpenMIC
from instrec.errors import InstrecError
from instrec.extract import FeatureStore
from instrec.io import atomic_save_npy, atomic_write_json, atomic_write_text

KEY = "openmic-released"


def released_store(dataset: OpenMIC) -> FeatureStore:
    """``<dataset>/features/openmic-released/``, made from X once."""
    if dataset.X is None:
        raise InstrecError(f"{dataset.root / 'openmic-2018.npz'}: has no X (released features); extract from audio instead")
    root = dataset.root / "features" / KEY
    if not (root / "meta.json").exists():
        for split in dataset.splits:
            rows = [dataset.row_of[k] for k in dataset.keys(split)]
            atomic_save_npy(root / f"{split}.npy", np.asarray(dataset.X[rows], dtype=np.uint8))
            atomic_write_text(root / f"{split}.keys.txt", "".join(k + "\n" for k in dataset.keys(split)))
            atomic_write_json(root / f"{split}.failed.json", [])
        atomic_write_json(root / "meta.json", {
            "representation": {"name": KEY, "key": KEY, "output_shape": [128], "postprocess": "pca",
                               "rounding": "truncate", "final_relu": True, "source": "openmic-2018.npz X"},
            "dataset": str(dataset.root), "examples_per_clip": int(dataset.X.shape[1]), "dtype": "uint8"})
    return FeatureStore(root)
