"""The VGGish network exactly as released (Hershey et al. 2017; torchvggish key layout).

Conv 3x3 (64) - pool - (128) - pool - (256, 256) - pool - (512, 512) - pool: four 2x2 max-pools take a
96x64 log-mel example to 6x4x512, flattened in NHWC order (as TensorFlow did) to 12,288, then
FC 4096 - ReLU - FC 4096 - ReLU - FC 128 - ReLU. The final ReLU is kept by default, as in torchvggish
and the OpenMIC feature script; current tensorflow/models dropped it (``final_relu=False``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from instrec import params as P
from instrec.errors import InstrecError
from instrec.io import load_npz, nonfinite, numpy_safe_globals

# torchvggish state-dict layout: key -> shape
VGGISH_SHAPES: dict[str, tuple[int, ...]] = {}
for _i, (_cin, _cout) in zip((0, 3, 6, 8, 11, 13), ((1, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512))):
    VGGISH_SHAPES[f"features.{_i}.weight"] = (_cout, _cin, 3, 3)
    VGGISH_SHAPES[f"features.{_i}.bias"] = (_cout,)
for _i, (_fin, _fout) in zip((0, 2, 4), ((12288, 4096), (4096, 4096), (4096, P.EMBEDDING_SIZE))):
    VGGISH_SHAPES[f"embeddings.{_i}.weight"] = (_fout, _fin)
    VGGISH_SHAPES[f"embeddings.{_i}.bias"] = (_fout,)


def _features() -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 1
    for spec in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M"):
        if spec == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, spec, 3, padding=1), nn.ReLU(inplace=True)]
            channels = spec
    return nn.Sequential(*layers)


class VGGish(nn.Module):
    """log-mel examples -> 128-d embeddings. Parameters are Glorot-uniform (zero bias) until loaded."""

    def __init__(self, final_relu: bool = True) -> None:
        super().__init__()
        self.final_relu = final_relu
        self.features = _features()
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 6 * 4, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, P.EMBEDDING_SIZE), nn.ReLU(inplace=True) if final_relu else nn.Identity(),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot/Xavier-uniform weights and zero biases (paper section 4.1)."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        """examples (N, 96, 64) or (N, 1, 96, 64) log-mel -> embeddings (N, 128)."""
        if examples.ndim == 3:
            examples = examples.unsqueeze(1)
        x = self.features(examples)  # (N, 512, 6, 4)
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # NHWC flatten, as TensorFlow
        return self.embeddings(x)


def check_state_dict(state: dict, source: str) -> None:
    """Every key and shape of the torchvggish layout must be there; one error lists all that is wrong."""
    problems = [f"missing {k}" for k in VGGISH_SHAPES if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in VGGISH_SHAPES]
    problems += [f"{k} has shape {tuple(state[k].shape)}, expected {s}" for k, s in VGGISH_SHAPES.items()
                 if k in state and tuple(state[k].shape) != s]
    if problems:
        shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
        raise InstrecError(f"{source}: not a VGGish state dict in the torchvggish layout ({shown}); "
                           "use vggish-10086976.pth from `instrec weights fetch` or a stage-1 checkpoint")


def load_vggish_weights(path: str | Path, final_relu: bool = True) -> VGGish:
    """A VGGish with the weights of a torchvggish-layout state dict (or an instrec stage-1 checkpoint)."""
    path = Path(path)
    if not path.is_file():
        raise InstrecError(f"{path}: weights file not found; run `instrec weights fetch` or give the path to "
                           "vggish-10086976.pth")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InstrecError(f"{path}: cannot be read as a torch state dict ({str(exc).splitlines()[0][:120]}); "
                           "re-download it") from None
    if isinstance(state, dict) and "vggish" in state and isinstance(state["vggish"], dict):
        state = state["vggish"]  # an instrec stage-1 checkpoint
    check_state_dict(state, str(path))
    if nonfinite(state):
        raise InstrecError(f"{path}: {nonfinite(state)[0]} holds NaN or infinite values; these weights cannot be used")
    model = VGGish(final_relu)
    model.load_state_dict(state, strict=True)
    return model




def load_pca_params(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(eigen_vectors (128, 128), means (128,)) from ``vggish_pca_params-*.pth`` or ``.npz``.

    The .pth release stores numpy arrays; it is unpickled with ``weights_only=True`` and only numpy's
    array-rebuilding functions allow-listed, never with a blanket ``weights_only=False``.
    """
    path = Path(path)
    if not path.is_file():
        raise InstrecError(f"{path}: PCA parameters not found; run `instrec weights fetch` or give the path to "
                           "vggish_pca_params-970ea276.pth")
    try:
        if path.suffix == ".npz":
            params = load_npz(path)
        else:
            with torch.serialization.safe_globals(numpy_safe_globals()):
                params = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InstrecError(f"{path}: cannot be read safely as VGGish PCA parameters "
                           f"({str(exc).splitlines()[0][:160]}); re-download it") from None
    missing = [k for k in ("pca_eigen_vectors", "pca_means") if k not in params]
    if missing:
        raise InstrecError(f"{path}: missing {', '.join(missing)}; expected the torchvggish PCA file")
    vectors = np.asarray(params["pca_eigen_vectors"], dtype=np.float64)
    means = np.asarray(params["pca_means"], dtype=np.float64).reshape(-1)
    if vectors.shape != (128, 128) or means.shape != (128,):
        raise InstrecError(f"{path}: pca_eigen_vectors has shape {vectors.shape} and pca_means {means.shape}, "
                           "expected (128, 128) and (128,)")
    return vectors, means
