"""Frozen configuration dataclasses with ``--set key=value`` overrides; every run saves its resolved config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from instrec.errors import InstrecError

T = TypeVar("T")


@dataclass(frozen=True)
class TrainConfig:
    """Stage 2 (paper section 4.2): Adam 5e-4, batch 128, 350 epochs, best validation F1-macro kept."""

    epochs: int = 350
    batch_size: int = 128
    lr: float = 5e-4
    weight_decay: float = 0.0  # the paper names none; AttentionMIC used 1e-5
    seed: int = 0
    variant: str = "paper"  # paper | reference
    architecture: str = "attention"  # attention (the paper) | cnn (convnet.ConvAttentionClassifier on log-mel)
    width: int = 16  # cnn: channels of the first convolution block (then 2x, 4x, 8x)
    crop_examples: int = 0  # train on a random run of this many 0.96 s examples per clip and step (0: whole clips)
    hidden: int = 128
    groups: int = 16
    dropout: float = 0.6  # reference variant only
    threshold: float = 0.5
    strict_threshold: bool = False  # > instead of >=
    device: str = "cpu"
    num_threads: int = 0  # torch intra-op threads; 0 = torch's default
    checkpoint_every: int = 1  # epochs between resumable checkpoints


def _coerce(value: str, kind: Any, key: str) -> Any:
    kind = {"int": int, "float": float, "str": str, "bool": bool}.get(kind, kind) if isinstance(kind, str) else kind
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
    return dataclasses.replace(config, **changes)


def from_dict(cls: type[T], data: dict) -> T:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
