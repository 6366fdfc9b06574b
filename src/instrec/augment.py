"""Training-time augmentation of log-mel clips (beyond the paper): new recordings from the stored ones.

A rendered clip is one bank's sample through one recording chain. Each training step can hear it
differently, drawn from the training loop's seeded generator (so a resumed run draws the same):

- ``eq_db``: a smooth random equaliser over the 64 mel bands (a tilt and two broader bumps, at most
  ``eq_db`` dB in any band): another microphone, room or instrument body;
- ``shift_bands``: the spectrum moved up or down by up to this many mel bands (about 1/3 semitone per band
  above 1 kHz): another register, formants that are not the sample's;
- ``mix``: the probability that a clip is mixed with another clip of the batch at -6..0 dB: new line-ups.
  Labels: a class is present if present in either, absent if absent in both, unknown otherwise.
- ``mixstyle``: the probability that a clip takes on another clip's sound (frequency-wise MixStyle; Zhou et al.
  2021, per mel band as Kim et al. and Schmid et al. 2022 did for unseen recording devices): each band's mean
  and spread over the clip's frames are replaced by a mix of its own and a partner clip's (weights drawn from
  Beta(0.3, 0.3)), in the log domain: the frequency response and dynamics of another recording. Labels unchanged.
- ``mask_bands`` / ``mask_frames``: SpecAugment's masks (Park et al. 2019): one run of up to this many mel bands
  silenced in each clip, and one run of up to this many frames in each 0.96 s example: the model cannot lean on
  one band or one moment (a partial that a microphone misses, a note that is not there).

The stored features are min-max normalised log-mel values (log(mel + 0.01), VGGish); the augmentations
act on the mel magnitudes, recovered with the training statistics, and the result is normalised again.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from instrec import params as P
from instrec.errors import InstrecError

MIX_GAIN_DB = (-6.0, 0.0)
MIXSTYLE_ALPHA = 0.3  # Beta(alpha, alpha): mostly near one clip or the other, as in the MixStyle papers


class Augmenter:
    """Augments a training batch (B, T x 96, 64) of normalised log-mel frames; ``stats``: the minimum and
    maximum the features were normalised with (per band)."""

    def __init__(self, mix: float, eq_db: float, shift_bands: int, stats: dict | None, bands: int,
                 mask_bands: int = 0, mask_frames: int = 0, mixstyle: float = 0.0) -> None:
        self.mix, self.eq_db, self.shift_bands = mix, eq_db, shift_bands
        self.mask_bands, self.mask_frames, self.mixstyle = mask_bands, mask_frames, mixstyle
        if not self.active:
            return
        if stats is None or bands != P.NUM_MEL_BANDS:
            raise InstrecError("augmentation (mix, eq_db, shift_bands, mask_bands, mask_frames, mixstyle) needs "
                               "min-max normalised log-mel features; extract with --representation logmel or set "
                               "them to 0")
        self.minimum = torch.as_tensor(np.asarray(stats["minimum"], np.float32))
        self.span = torch.as_tensor(np.maximum(np.asarray(stats["maximum"], np.float32) - self.minimum.numpy(), 1e-8))
        position = torch.linspace(0, math.pi, bands)
        self.basis = torch.stack([torch.cos(k * position) for k in (1, 2, 3)])  # (3, bands): tilt and bumps

    @property
    def active(self) -> bool:
        return (self.mix > 0 or self.eq_db > 0 or self.shift_bands > 0 or self.mask_bands > 0 or self.mask_frames > 0
                or self.mixstyle > 0)

    def _magnitude(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.exp(x * self.span + self.minimum) - P.LOG_OFFSET).clamp_min(0)

    def _normalised(self, magnitude: torch.Tensor) -> torch.Tensor:
        return ((torch.log(magnitude + P.LOG_OFFSET) - self.minimum) / self.span).clamp(0, 1)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not self.active:
            return x, y, mask
        batch, device = x.shape[0], x.device
        if self.minimum.device != device:
            self.minimum, self.span, self.basis = (t.to(device) for t in (self.minimum, self.span, self.basis))
        magnitude = self._magnitude(x)
        if self.mix > 0 and batch > 1:
            partner = _partners(batch, generator)
            chosen = (torch.rand(batch, generator=generator) < self.mix).to(device)
            low, high = MIX_GAIN_DB
            gain = (10 ** ((low + (high - low) * torch.rand(batch, generator=generator)) / 20)).to(device)
            partner = partner.to(device)
            # incoherent sources: powers add
            mixed = torch.sqrt(magnitude ** 2 + (gain[:, None, None] * magnitude[partner]) ** 2)
            magnitude = torch.where(chosen[:, None, None], mixed, magnitude)
            y2, m2 = y[partner], mask[partner]
            present = (mask & (y > 0.5)) | (m2 & (y2 > 0.5))
            absent = mask & m2 & (y <= 0.5) & (y2 <= 0.5)
            c = chosen[:, None]
            y = torch.where(c, present.to(y.dtype), y)
            mask = torch.where(c, present | absent, mask)
        if self.eq_db > 0:
            weights = (2 * torch.rand(batch, self.basis.shape[0], generator=generator) - 1).to(device)
            curve = weights @ self.basis  # (B, bands), within +-3
            strength = torch.rand(batch, 1, generator=generator).to(device)
            curve_db = self.eq_db * strength * curve / curve.abs().amax(dim=1, keepdim=True).clamp_min(1e-6)
            magnitude = magnitude * (10 ** (curve_db / 20))[:, None, :]
        if self.shift_bands > 0:
            shifts = torch.randint(-self.shift_bands, self.shift_bands + 1, (batch,), generator=generator)
            magnitude = torch.stack([_shift(m, int(s)) for m, s in zip(magnitude, shifts)])
        if self.mask_bands > 0:
            keep = _runs_kept(batch, 1, magnitude.shape[2], self.mask_bands, generator).to(device)  # (B, 1, bands)
            magnitude = magnitude * keep
        if self.mask_frames > 0:
            examples = magnitude.shape[1] // P.EXAMPLE_FRAMES
            keep = _runs_kept(batch, examples, P.EXAMPLE_FRAMES, self.mask_frames, generator).to(device)
            magnitude = magnitude * keep.reshape(batch, -1, 1)
        x = self._normalised(magnitude)
        if self.mixstyle > 0 and batch > 1:
            x = self._mix_style(x, generator)
        return x, y, mask

    def _mix_style(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Each chosen clip's per-band mean and spread over its frames mixed with a partner's. The features are
        per-band affine in log-mel, so mixing their statistics is mixing the log-mel statistics."""
        batch = x.shape[0]
        partner = _partners(batch, generator)
        chosen = torch.rand(batch, generator=generator) < self.mixstyle
        seed = int(torch.randint(2 ** 31 - 1, (1,), generator=generator))  # Beta draws: numpy, from the same stream
        weight = torch.from_numpy(np.random.default_rng(seed).beta(MIXSTYLE_ALPHA, MIXSTYLE_ALPHA, batch)
                                  .astype(np.float32)).to(x.device)[:, None, None]
        partner, chosen = partner.to(x.device), chosen.to(x.device)
        mean = x.mean(dim=1, keepdim=True)
        spread = (x.var(dim=1, keepdim=True) + 1e-6).sqrt()
        mixed_mean = weight * mean + (1 - weight) * mean[partner]
        mixed_spread = weight * spread + (1 - weight) * spread[partner]
        styled = ((x - mean) / spread * mixed_spread + mixed_mean).clamp(0, 1)
        return torch.where(chosen[:, None, None], styled, x)


def _partners(batch: int, generator: torch.Generator) -> torch.Tensor:
    """Each clip's partner: another clip of the batch."""
    return (torch.arange(batch) + torch.randint(1, batch, (batch,), generator=generator)) % batch


def _runs_kept(rows: int, groups: int, length: int, longest: int, generator: torch.Generator) -> torch.Tensor:
    """(rows, groups, length) of 1s with, in each group, one run of 0 to ``longest`` zeros at a random place."""
    width = torch.randint(0, longest + 1, (rows, groups, 1), generator=generator)
    start = (torch.rand(rows, groups, 1, generator=generator) * (length - width + 1)).floor()
    position = torch.arange(length)
    return ((position < start) | (position >= start + width)).float()


def _shift(magnitude: torch.Tensor, bands: int) -> torch.Tensor:
    """(T, bands) moved up by ``bands`` (down if negative); the bands left empty are silent."""
    if bands == 0:
        return magnitude
    out = torch.zeros_like(magnitude)
    if bands > 0:
        out[:, bands:] = magnitude[:, :-bands]
    else:
        out[:, :bands] = magnitude[:, -bands:]
    return out
