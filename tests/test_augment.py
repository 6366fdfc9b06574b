"""Training-time augmentation of log-mel clips: exact in the magnitude domain, labels by the union rule,
seeded, resumable, and refused where it cannot apply."""

import numpy as np
import pytest
import torch

from instrec.augment import Augmenter
from instrec.params import LOG_OFFSET
from instrec.config import TrainConfig
from instrec.errors import InstrecError
from instrec.training import SplitData, train_classifier


def _logmel(n=4, frames=96, seed=0):
    """Log-mel frames log(mel + 0.01) of random magnitudes, the training statistics and the normalised input."""
    rng = np.random.default_rng(seed)
    magnitude = rng.exponential(0.5, (n, frames, 64)).astype(np.float32)
    logmel = np.log(magnitude + LOG_OFFSET)
    stats = {"minimum": np.full(64, np.log(LOG_OFFSET), np.float32), "maximum": np.full(64, np.log(20.0), np.float32)}
    x = (logmel - stats["minimum"]) / (stats["maximum"] - stats["minimum"])
    return magnitude, stats, torch.from_numpy(x)


def _magnitude(x, stats):
    span = stats["maximum"] - stats["minimum"]
    return np.exp(x.numpy() * span + stats["minimum"]) - LOG_OFFSET


def test_off_changes_nothing_and_needs_no_statistics():
    augment = Augmenter(0.0, 0.0, 0, None, 128)  # embeddings: fine while off
    x, y, mask = torch.rand(2, 10, 128), torch.ones(2, 3), torch.ones(2, 3, dtype=torch.bool)
    assert augment(x, y, mask, torch.Generator()) == (x, y, mask)


@pytest.mark.parametrize("stats, bands", [(None, 64), ({"minimum": np.zeros(128), "maximum": np.ones(128)}, 128)])
def test_refused_on_features_that_are_not_normalised_log_mel(stats, bands):
    with pytest.raises(InstrecError, match="log-mel"):
        Augmenter(0.5, 0.0, 0, stats, bands)


def test_mix_adds_powers_and_takes_the_union_of_labels():
    magnitude, stats, x = _logmel(n=2)
    y = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    out, y2, mask2 = Augmenter(1.0, 0.0, 0, stats, 64)(x, y, mask, torch.Generator().manual_seed(0))
    # with two clips every chosen clip's partner is the other one
    assert torch.equal(y2, torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]]))
    # class 2 is absent from clip 0 but unknown in clip 1: unknown in the mix; class 3 unknown in both
    assert torch.equal(mask2, torch.tensor([[True, True, False, False], [True, True, False, False]]))
    mixed = _magnitude(out, stats)
    for clip, other in ((0, 1), (1, 0)):
        gain = np.sqrt(np.clip((mixed[clip] ** 2 - magnitude[clip] ** 2), 0, None)) / magnitude[other]
        ratio = np.median(gain)
        assert 10 ** (-6 / 20) - 1e-3 <= ratio <= 1 + 1e-3  # the partner enters at -6..0 dB
        np.testing.assert_allclose(mixed[clip], np.sqrt(magnitude[clip] ** 2 + (ratio * magnitude[other]) ** 2),
                                   rtol=1e-3, atol=1e-4)


def test_equaliser_is_a_smooth_gain_within_its_bound():
    magnitude, stats, x = _logmel(n=8)
    out, y, mask = Augmenter(0.0, 6.0, 0, stats, 64)(x, torch.zeros(8, 2), torch.ones(8, 2, dtype=torch.bool),
                                                     torch.Generator().manual_seed(1))
    gain_db = 20 * np.log10(_magnitude(out, stats) / magnitude)
    per_band = np.median(gain_db, axis=1)  # (clips, bands): the same gain in every frame
    assert np.allclose(gain_db, per_band[:, None, :], atol=0.05)
    assert np.abs(per_band).max() <= 6.0 + 0.05
    assert np.abs(np.diff(per_band, axis=1)).max() < 1.0  # smooth across bands
    assert np.abs(per_band).max() > 0.5  # and it does something
    assert torch.equal(y, torch.zeros(8, 2)) and bool(mask.all())


def test_shift_moves_the_spectrum_by_whole_bands():
    magnitude, stats, x = _logmel(n=16)
    out = _magnitude(Augmenter(0.0, 0.0, 2, stats, 64)(x, torch.zeros(16, 1), torch.ones(16, 1, dtype=torch.bool),
                                                      torch.Generator().manual_seed(2))[0], stats)
    seen = set()
    for clip in range(16):
        shift = next(s for s in range(-2, 3) if np.allclose(out[clip, :, max(s, 0):64 + min(s, 0)],
                                                          magnitude[clip, :, max(-s, 0):64 - max(s, 0)],
                                                          rtol=1e-4, atol=1e-5))
        seen.add(shift)
        emptied = out[clip, :, :shift] if shift > 0 else out[clip, :, 64 + shift:]
        assert np.allclose(emptied, 0, atol=1e-6)
    assert len(seen) >= 3


def test_the_same_seed_draws_the_same_batch():
    _, stats, x = _logmel(n=6)
    y, mask = torch.zeros(6, 2), torch.ones(6, 2, dtype=torch.bool)
    augment = Augmenter(0.5, 6.0, 2, stats, 64)
    first = augment(x, y, mask, torch.Generator().manual_seed(3))
    again = augment(x, y, mask, torch.Generator().manual_seed(3))
    other = augment(x, y, mask, torch.Generator().manual_seed(4))
    assert torch.equal(first[0], again[0]) and not torch.equal(first[0], other[0])


def _silenced_run(kept: np.ndarray) -> tuple[int, int]:
    """Start and width of the one run of False in a boolean vector (width 0: none); fails if there are two."""
    where = np.flatnonzero(~kept)
    if len(where) == 0:
        return 0, 0
    assert np.array_equal(where, np.arange(where[0], where[-1] + 1))  # one contiguous run
    return int(where[0]), len(where)


def test_band_mask_silences_one_run_of_bands_in_each_clip():
    magnitude, stats, x = _logmel(n=32, frames=192)
    out = _magnitude(Augmenter(0.0, 0.0, 0, stats, 64, mask_bands=8)(
        x, torch.zeros(32, 1), torch.ones(32, 1, dtype=torch.bool), torch.Generator().manual_seed(3))[0], stats)
    widths = []
    for clip in range(32):
        silent = np.all(out[clip] < 1e-5, axis=0)  # bands silent in every frame
        start, width = _silenced_run(~silent)
        widths.append(width)
        np.testing.assert_allclose(out[clip][:, ~silent], magnitude[clip][:, ~silent], rtol=1e-4, atol=1e-5)
    assert max(widths) <= 8 and len(set(widths)) > 3  # random widths up to the bound


def test_frame_mask_silences_one_run_of_frames_in_each_example():
    magnitude, stats, x = _logmel(n=8, frames=192)  # two examples a clip
    out = _magnitude(Augmenter(0.0, 0.0, 0, stats, 64, mask_frames=20)(
        x, torch.zeros(8, 1), torch.ones(8, 1, dtype=torch.bool), torch.Generator().manual_seed(4))[0], stats)
    widths = []
    for clip in range(8):
        for example in range(2):
            frames = slice(96 * example, 96 * (example + 1))
            silent = np.all(out[clip, frames] < 1e-5, axis=1)
            _, width = _silenced_run(~silent)
            widths.append(width)
            np.testing.assert_allclose(out[clip, frames][~silent], magnitude[clip, frames][~silent], rtol=1e-4,
                                       atol=1e-5)
    assert max(widths) <= 20 and len(set(widths)) > 3


def test_mixstyle_gives_each_band_statistics_between_the_clip_and_its_partner():
    """Per band, a styled clip's mean over its frames lies between its own and its partner's (two clips: each
    other's partner), its normalised shape is kept, and the labels are untouched."""
    _, stats, x = _logmel(n=2, frames=192)
    x = x.clamp(0.3, 0.7)  # no styled value reaches the clamp to [0, 1]
    x[1] = x[1] * 0.5 + 0.3  # another "recording": other per-band means and spreads
    x[1, :, :32] *= 0.7
    y, mask = torch.tensor([[1.0], [0.0]]), torch.ones(2, 1, dtype=torch.bool)
    out, y2, mask2 = Augmenter(0.0, 0.0, 0, stats, 64, mixstyle=1.0)(x, y, mask, torch.Generator().manual_seed(1))
    assert torch.equal(y2, y) and torch.equal(mask2, mask)
    mean, out_mean = x.mean(dim=1), out.mean(dim=1)
    low, high = torch.minimum(mean[0], mean[1]), torch.maximum(mean[0], mean[1])
    assert bool(((out_mean >= low - 1e-4) & (out_mean <= high + 1e-4)).all())
    assert not torch.allclose(out, x, atol=1e-3)  # the styles moved
    standard = lambda v: (v - v.mean(dim=1, keepdim=True)) / v.std(dim=1, keepdim=True)  # noqa: E731
    torch.testing.assert_close(standard(out), standard(x), rtol=1e-3, atol=1e-3)  # the content is the clip's
    # probability 0.5 over many clips: some clips are kept exactly, others styled
    _, stats, many = _logmel(n=64, frames=96, seed=2)
    many = many * torch.linspace(0.5, 1.0, 64)[:, None, None]
    styled = Augmenter(0.0, 0.0, 0, stats, 64, mixstyle=0.5)(
        many, torch.zeros(64, 1), torch.ones(64, 1, dtype=torch.bool), torch.Generator().manual_seed(0))[0]
    same = [torch.allclose(styled[i], many[i], atol=1e-4) for i in range(64)]
    assert 16 <= sum(same) <= 48


def test_settings_are_range_checked():
    for bad in ({"mix": 1.5}, {"eq_db": -1.0}, {"shift_bands": -2}, {"mask_bands": -1}, {"mask_bands": 65},
                {"mask_frames": 97}, {"mixstyle": 1.5}, {"mixstyle": -0.1}):
        with pytest.raises(InstrecError):
            TrainConfig(**bad)


def test_augmented_training_resumes_to_the_same_weights(tmp_path, interrupt_after):
    _, stats, x = _logmel(n=24, frames=192, seed=5)
    y = (torch.rand(24, 2, generator=torch.Generator().manual_seed(5)) < 0.5).float()
    data = SplitData(x, y, torch.ones_like(y, dtype=torch.bool), [str(i) for i in range(24)])
    config = TrainConfig(epochs=4, batch_size=8, lr=1e-3, architecture="cnn", width=4, crop_examples=1,
                         mix=0.5, eq_db=6.0, shift_bands=2, mask_bands=8, mask_frames=20, mixstyle=0.5)
    extra = {"representation": {"name": "logmel", "key": "logmel", "postprocess": "norm"}, "classes": ["a", "b"],
             "trained_classes": [True, True], "norm_stats": stats}
    train_classifier(data, data, config, tmp_path / "whole", extra)
    with pytest.raises(KeyboardInterrupt):
        train_classifier(data, data, config, tmp_path / "resumed", extra, after_epoch=interrupt_after(2))
    train_classifier(data, data, config, tmp_path / "resumed", extra)
    whole = torch.load(tmp_path / "whole" / "checkpoints" / "last.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed" / "checkpoints" / "last.pt", weights_only=True)
    for key, value in whole["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, rtol=0, atol=0)
