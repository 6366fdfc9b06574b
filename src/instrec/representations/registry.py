"""Representations by name, each declaring its output shape per 0.96 s example.

- ``logmel``: the identity of the paper (VGGish replaced by the log-mel itself): (96, 64) per example.
- ``vggish-random``: VGGish with Glorot-uniform weights drawn from ``seed``: (128,).
- ``vggish-audioset`` (alias ``vggish``): the released AudioSet weights (``--weights`` or the cache).
- ``vggish:<checkpoint>``: a VGGish checkpoint from ``instrec pretrain`` (or any torchvggish-layout file).

Post-processing is chosen separately: ``pca`` (PCA + clip + 8-bit, uint8; needs the PCA file),
``norm`` ([0, 1] with training-split statistics, applied at stage 2) or ``none``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from instrec import params as P
from instrec.errors import InstrecError, MissingWeightsError
from instrec.representations.postprocess import pca_quantize
from instrec.representations.vggish import VGGish, load_pca_params, load_vggish_weights

NAMES = ("logmel", "vggish-random", "vggish-audioset", "vggish:<checkpoint>")


@dataclass
class Representation:
    """Turns log-mel examples (N, 96, 64) into features (N, *output_shape)."""

    name: str
    key: str  # identifies the features it makes (a store folder name)
    output_shape: tuple[int, ...]
    network: VGGish | None = None
    postprocess: str = "norm"
    pca: tuple[np.ndarray, np.ndarray] | None = None
    rounding: str = "truncate"
    info: dict = field(default_factory=dict)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.postprocess == "pca" else np.float32)

    def embed(self, examples: torch.Tensor) -> np.ndarray:
        """examples (N, 96, 64) float -> (N, *output_shape): float32, or uint8 after PCA."""
        if self.network is None:
            return examples.float().cpu().numpy()
        with torch.inference_mode():
            x = examples.unsqueeze(1).contiguous(memory_format=torch.channels_last)
            embedding = self.network(x).float().cpu().numpy()
        if self.postprocess == "pca":
            return pca_quantize(embedding, *self.pca, rounding=self.rounding)
        return embedding

    def to(self, device: str | torch.device) -> "Representation":
        if self.network is not None:
            self.network.to(device)
        return self

    def describe(self) -> dict:
        """What a model bundle records to rebuild this representation."""
        return {"name": self.name, "key": self.key, "output_shape": list(self.output_shape),
                "postprocess": self.postprocess, "rounding": self.rounding, **self.info}


def _file_tag(path: Path) -> str:
    from instrec.weights import sha256_of

    return sha256_of(path)[:10]


def build_representation(name: str, weights: str | Path | None = None, pca: str | Path | None = None,
                         postprocess: str | None = None, final_relu: bool = True, seed: int = 0,
                         rounding: str = "truncate") -> Representation:
    """The representation called ``name`` (see the module docstring)."""
    if name == "logmel":
        if postprocess == "pca":
            raise InstrecError("logmel: PCA post-processing applies to VGGish embeddings only; use norm or none")
        return Representation("logmel", "logmel", (P.EXAMPLE_FRAMES, P.NUM_MEL_BANDS), None, postprocess or "norm")
    info: dict = {"final_relu": final_relu}
    if name == "vggish-random":
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            network = VGGish(final_relu)
        key = f"vggish-random-s{seed}"
        info["seed"] = seed
    elif name in ("vggish-audioset", "vggish") or name.startswith("vggish:"):
        if name.startswith("vggish:"):
            weights = name.split(":", 1)[1]
        elif weights is None:
            from instrec.weights import local_path

            weights = local_path("vggish")
            if weights is None:
                raise MissingWeightsError("vggish-audioset: the AudioSet weights are not in the cache; run "
                                   "`instrec weights fetch` or pass --weights vggish-10086976.pth")
        weights = Path(weights)
        network = load_vggish_weights(weights, final_relu)
        tag = _file_tag(weights)
        key = "vggish-audioset" if tag.startswith("10086976") else f"vggish-{tag}"
        info.update(weights=str(weights.resolve()), weights_sha256_10=tag)
        name = "vggish-audioset" if name == "vggish" else name
    else:
        raise InstrecError(f"unknown representation {name!r}; choose one of {', '.join(NAMES)}")
    network.eval().to(memory_format=torch.channels_last)  # ~1.5x faster convolutions on CPU
    if not final_relu:
        key += "-norelu"
    postprocess = postprocess or ("pca" if pca is not None else "norm")
    pca_params = None
    if postprocess == "pca":
        if pca is None:
            from instrec.weights import local_path

            pca = local_path("vggish-pca")
            if pca is None:
                raise MissingWeightsError(f"{name}: PCA post-processing needs the PCA file, which is not in the cache; "
                                   "run `instrec weights fetch` "
                                   "or pass --pca vggish_pca_params-970ea276.pth")
        pca_params = load_pca_params(pca)
        key += "-pca" if rounding == "truncate" else "-pca-round"
        info["pca"] = str(Path(pca).resolve())
    elif postprocess not in ("norm", "none"):
        raise InstrecError(f"unknown post-processing {postprocess!r}; choose pca, norm or none")
    return Representation(name, key, (P.EMBEDDING_SIZE,), network, postprocess, pca_params, rounding, info)
