"""Frozen configuration dataclasses with ``--set key=value`` overrides; every run saves its resolved config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from instrec import params as P
from instrec.errors import InstrecError

T = TypeVar("T")


@dataclass(frozen=True)
class TrainConfig:
    """Stage 2 (paper section 4.2): Adam 5e-4, batch 128, 350 epochs, best validation F1-macro kept."""

    epochs: int = 350
    batch_size: int = 128
    lr: float = 5e-4
    weight_decay: float = 0.0  # the paper names none; AttentionMIC used 1e-5
    lr_schedule: str = "constant"  # constant (the paper) | cosine: lr falls to 0 over the run, step by step
    seed: int = 0
    variant: str = "paper"  # paper | reference
    architecture: str = "attention"  # attention (the paper) | cnn (convnet.ConvAttentionClassifier on log-mel)
    width: int = 16  # cnn: channels of the first convolution block (then 2x, 4x, 8x)
    crop_examples: int = 0  # train on a random run of this many 0.96 s examples per clip and step (0: whole clips)
    crop_min_examples: int = 0  # with crop_examples: each step draws the length in [this, crop_examples] (0: fixed)
    crop_shift: bool = False  # with crop_examples: a run starts at any 10 ms frame, not only at an example's first
    mix: float = 0.0  # log-mel: probability that a training clip is mixed with another (augment.py)
    eq_db: float = 0.0  # log-mel: largest gain of the random equaliser, dB (0: none)
    shift_bands: int = 0  # log-mel: largest random shift of the spectrum, mel bands (0: none)
    mask_bands: int = 0  # log-mel: widest run of mel bands silenced per clip (SpecAugment; 0: none)
    mask_frames: int = 0  # log-mel: widest run of frames silenced per 0.96 s example (SpecAugment; 0: none)
    mixstyle: float = 0.0  # log-mel: probability that a clip takes another's per-band statistics (augment.py)
    swa_epochs: int = 0  # keep the mean of the last N epochs' weights (SWA) instead of the best epoch's (0: off)
    init: str = ""  # cnn: start the convolutions from a pre-trained encoder (cnn.pt of `pretrain --set encoder=cnn`)
    hidden: int = 128
    groups: int = 16
    dropout: float = 0.6  # reference variant only
    threshold: float = 0.5
    strict_threshold: bool = False  # > instead of >=
    device: str = "cpu"
    num_threads: int = 0  # torch intra-op threads; 0 = torch's default
    checkpoint_every: int = 1  # epochs between resumable checkpoints

    def __post_init__(self) -> None:
        check_ranges(self, at_least_1=("epochs", "batch_size", "hidden", "groups", "width", "checkpoint_every"),
                     at_least_0=("weight_decay", "crop_examples", "crop_min_examples", "num_threads", "seed", "eq_db",
                                 "shift_bands", "mask_bands", "mask_frames", "swa_epochs"),
                     positive=("lr",), unit=("threshold", "dropout", "mix", "mixstyle"),
                     choices={"variant": ("paper", "reference"), "architecture": ("attention", "cnn"),
                              "lr_schedule": ("constant", "cosine")})
        if self.hidden % self.groups:
            raise InstrecError(f"groups={self.groups} must divide hidden={self.hidden}")
        if self.swa_epochs > self.epochs:
            raise InstrecError(f"swa_epochs={self.swa_epochs}: at most the {self.epochs} epochs of the run; "
                               "lower swa_epochs or raise epochs")
        if self.init and self.architecture != "cnn":
            raise InstrecError(f"init={self.init}: a pre-trained encoder starts architecture cnn only; add "
                               "--set architecture=cnn or drop init")
        if self.crop_min_examples and not 0 < self.crop_min_examples <= self.crop_examples:
            raise InstrecError(f"crop_min_examples={self.crop_min_examples}: needs crop_examples of at least as many "
                               f"examples (now {self.crop_examples}); raise crop_examples or lower crop_min_examples")
        if self.crop_shift and not self.crop_examples:
            raise InstrecError("crop_shift=True: needs crop_examples (runs shorter than the clip to start anywhere); "
                               "set crop_examples or drop crop_shift")
        if self.mask_bands > P.NUM_MEL_BANDS or self.mask_frames > P.EXAMPLE_FRAMES:
            raise InstrecError(f"mask_bands={self.mask_bands}, mask_frames={self.mask_frames}: at most the "
                               f"{P.NUM_MEL_BANDS} mel bands and the {P.EXAMPLE_FRAMES} frames of an example")


@dataclass(frozen=True)
class PretrainConfig:
    """Stage-1 pre-training of VGGish or the compact CNN (``instrec pretrain --set``, a profile's ``[pretrain]``
    table)."""

    max_epochs: int = 50
    patience: int = 5
    batch_size: int = 64
    lr: float = 1e-4
    seed: int = 0
    precision: str = "32-true"  # or bf16-mixed
    accelerator: str = "auto"
    devices: int = 1
    strategy: str = "auto"  # ddp for several devices / nodes
    num_nodes: int = 1
    word_vectors: str = ""  # GloVe .txt / word2vec .bin; default: the shipped GloVe 6B 50-d subset
    margin: float = 0.5
    temperature: float = 0.1
    noise_std: float = 0.1
    keep_probability: float = 0.5
    final_relu: bool = True
    max_train_items: int = 0  # 0 = all (the quick study profile uses fewer)
    max_valid_items: int = 0
    encoder: str = "vggish"  # vggish (the paper) | cnn: the shipped model's compact CNN (writes cnn.pt, for --set init=)
    width: int = 16  # cnn: channels of its first convolution block, as TrainConfig.width

    def __post_init__(self) -> None:
        check_ranges(self, at_least_1=("max_epochs", "batch_size", "devices", "num_nodes", "width"),
                     at_least_0=("patience", "seed", "max_train_items", "max_valid_items", "margin", "noise_std"),
                     positive=("lr", "temperature"), unit=("keep_probability",),
                     choices={"precision": ("32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "64-true"),
                              "encoder": ("vggish", "cnn")})


def changed_settings(saved: dict, config: TrainConfig, ignore: tuple[str, ...] = ()) -> list[str]:
    """The names of the settings in which a run's written training settings ``saved`` differ from ``config``,
    except ``ignore``; a setting added to :class:`TrainConfig` since the run was written counts as its default."""
    written = {**dataclasses.asdict(TrainConfig()), **saved}
    wanted = dataclasses.asdict(config)
    return [k for k in {**written, **wanted} if k not in ignore and written.get(k) != wanted.get(k)]


def check_ranges(config, at_least_1=(), at_least_0=(), positive=(), unit=(), choices=None) -> None:
    """One clear error for the first setting out of its range (numbers must also be finite)."""
    import math

    for name in (*at_least_1, *at_least_0, *positive, *unit):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InstrecError(f"{name}={value!r} must be a finite number")
    for name in at_least_1:
        if getattr(config, name) < 1:
            raise InstrecError(f"{name}={getattr(config, name)} must be at least 1")
    for name in at_least_0:
        if getattr(config, name) < 0:
            raise InstrecError(f"{name}={getattr(config, name)} must not be negative")
    for name in positive:
        if getattr(config, name) <= 0:
            raise InstrecError(f"{name}={getattr(config, name)} must be positive")
    for name in unit:
        if not 0 <= getattr(config, name) <= 1:
            raise InstrecError(f"{name}={getattr(config, name)} must be between 0 and 1")
    for name, allowed in (choices or {}).items():
        if getattr(config, name) not in allowed:
            raise InstrecError(f"{name}={getattr(config, name)!r} must be one of {', '.join(allowed)}")


def field_type(kind: Any) -> Any:
    """A dataclass field's type as a class (``from __future__ import annotations`` leaves it a string)."""
    return {"int": int, "float": float, "str": str, "bool": bool}.get(kind, kind) if isinstance(kind, str) else kind


def _coerce(value: str, kind: Any, key: str) -> Any:
    kind = field_type(kind)
    if kind is bool:
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise InstrecError(f"--set {key}={value}: expected true or false")
    try:
        return kind(value)
    except ValueError:
        raise InstrecError(f"--set {key}={value}: expected a {kind.__name__}") from None


def apply_overrides(config: T, overrides: list[str] | None) -> T:
    """``["epochs=10", "lr=1e-3"]`` -> a copy of ``config`` with those fields replaced (types checked)."""
    fields = {f.name: f.type for f in dataclasses.fields(config)}
    changes = {}
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InstrecError(f"--set {item}: expected key=value")
        if key not in fields:
            raise InstrecError(f"--set {item}: unknown setting {key!r}; known: {', '.join(fields)}")
        changes[key] = _coerce(value, fields[key], key)
    try:
        return dataclasses.replace(config, **changes)
    except InstrecError as exc:
        raise InstrecError(f"--set: {exc}") from None


def from_dict(cls: type[T], data: dict) -> T:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
