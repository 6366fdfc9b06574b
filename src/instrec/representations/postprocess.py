"""Post-processing of embeddings: the AudioSet/OpenMIC release format (PCA, clip, 8-bit) and the
paper's simple [0, 1] normalisation (section 4), with statistics from the training split."""

from __future__ import annotations

import numpy as np

from instrec import params as P
from instrec.errors import InstrecError


def pca_quantize(embeddings: np.ndarray, eigen_vectors: np.ndarray, means: np.ndarray,
                 rounding: str = "truncate") -> np.ndarray:
    """(..., 128) float -> (..., 128) uint8: PCA whitening, clip to [-2, 2], scale to 0..255.

    ``rounding="truncate"`` casts as TensorFlow and the OpenMIC features did; ``"round"`` as torchvggish.
    """
    if rounding not in ("truncate", "round"):
        raise ValueError(f"rounding must be 'truncate' or 'round', not {rounding!r}")
    x = np.asarray(embeddings, dtype=np.float64)
    pca = (x - means) @ eigen_vectors.T
    clipped = np.clip(pca, P.QUANTIZE_MIN, P.QUANTIZE_MAX)
    scaled = (clipped - P.QUANTIZE_MIN) * (255.0 / (P.QUANTIZE_MAX - P.QUANTIZE_MIN))
    if rounding == "round":
        scaled = np.round(scaled)
    return scaled.astype(np.uint8)


def fit_min_max(train_features: np.ndarray) -> dict[str, np.ndarray]:
    """Per-dimension minimum and maximum over every example of the training split (last axis = dimension)."""
    flat = np.asarray(train_features, dtype=np.float32).reshape(-1, train_features.shape[-1])
    return {"minimum": flat.min(axis=0), "maximum": flat.max(axis=0)}


def normalize_min_max(features: np.ndarray, stats: dict[str, np.ndarray]) -> np.ndarray:
    """Map to [0, 1] with the training statistics; values outside the training range are clipped."""
    span = np.maximum(stats["maximum"] - stats["minimum"], 1e-8)
    return np.clip((np.asarray(features, dtype=np.float32) - stats["minimum"]) / span, 0.0, 1.0)


def to_sequence(features: np.ndarray, dtype_uint8: bool, postprocess: str, stats: dict | None) -> np.ndarray:
    """Stored features (N, examples, *shape) -> classifier input (N, T, D) float32.

    uint8 (PCA + 8-bit) -> X / 255 as AttentionMIC; ``norm`` -> [0, 1] with training statistics; log-mel
    examples (N, 10, 96, 64) become their frames (N, 960, 64).
    """
    x = np.asarray(features)
    if dtype_uint8:
        x = x.astype(np.float32) / 255.0
    elif postprocess == "norm":
        if stats is None:
            raise InstrecError("norm post-processing needs norm_stats.npz from the training split; re-run extract")
        x = normalize_min_max(x, stats)
    else:
        x = x.astype(np.float32)
    return np.ascontiguousarray(x.reshape(x.shape[0], -1, x.shape[-1]))
