import numpy as np
import pytest
import soundfile as sf
import torch

from instrec.audio import load_audio
from instrec.frontend import LogMel, LogMelExamples, frame_examples, mel_matrix, num_frames, waveform_to_examples
from tests.reference_vggish import reference_examples, reference_log_mel, reference_mel_matrix

SR = 16000


def _chirp(seconds=3.0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * (100 * t + (6000 - 100) / (2 * seconds) * t**2))).astype(np.float32)


def _signals(fixtures):
    rng = np.random.default_rng(0)
    return {
        "noise": rng.uniform(-1, 1, 3 * SR).astype(np.float32),
        "chirp": _chirp(),
        "silence": np.zeros(3 * SR, np.float32),
        "real": load_audio(fixtures / "audio" / "openmic_000046_3840_16k.wav"),
    }


@pytest.mark.parametrize("name", ["noise", "chirp", "silence", "real"])
def test_log_mel_matches_numpy_reference(fixtures, name):
    samples = _signals(fixtures)[name]
    ours = LogMel()(torch.from_numpy(samples)).numpy()
    ref = reference_log_mel(samples)
    assert ours.shape == ref.shape
    assert np.max(np.abs(ours - ref)) <= 1e-4


def test_examples_match_reference_on_real_clip(fixtures):
    samples = load_audio(fixtures / "audio" / "openmic_000046_3840_16k.wav")
    ours = waveform_to_examples(samples)
    ref = reference_examples(samples)
    assert ours.shape == ref.shape == (10, 96, 64)
    assert np.max(np.abs(ours - ref)) <= 1e-4


def test_ten_seconds_gives_998_frames_and_10_examples():
    samples = torch.zeros(10 * SR)
    log_mel = LogMel()(samples)
    assert log_mel.shape == (998, 64) and num_frames(10 * SR) == 998
    assert frame_examples(log_mel).shape == (10, 96, 64)


def test_mel_matrix_rows_follow_htk_formula():
    ours = mel_matrix()
    assert ours.shape == (257, 64)
    np.testing.assert_allclose(ours, reference_mel_matrix(), atol=1e-12)
    assert np.all(ours[0] == 0)
    # each band peaks at the bin closest (in mel) to its centre, 1127 ln(1 + f/700)
    centres = np.linspace(1127 * np.log1p(125 / 700), 1127 * np.log1p(7500 / 700), 66)[1:-1]
    bins_mel = 1127 * np.log1p(np.linspace(0, 8000, 257) / 700)
    peaks = ours.argmax(axis=0)
    nearest = np.abs(bins_mel[:, None] - centres[None]).argmin(axis=0)
    # neighbouring bins can tie at the peak only when they straddle the centre
    assert np.all(np.abs(peaks - nearest) <= 1)


def test_batched_equals_one_by_one():
    rng = np.random.default_rng(1)
    batch = torch.from_numpy(rng.standard_normal((4, 2 * SR)).astype(np.float32) * 0.1)
    module = LogMelExamples()
    together = module(batch)
    alone = torch.stack([module(x) for x in batch])
    assert together.shape == (4, 2, 96, 64)
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)


def test_short_audio_is_padded_to_one_example():
    examples = waveform_to_examples(np.full(4000, 0.1, np.float32))
    assert examples.shape == (1, 96, 64)
    # the padded tail is digital silence: log(0 + 0.01)
    np.testing.assert_allclose(examples[0, -1], np.log(0.01), atol=1e-6)


def test_hop_is_a_parameter():
    samples = np.zeros(10 * SR, np.float32)
    assert waveform_to_examples(samples, hop_frames=48).shape == (19, 96, 64)


def test_stereo_44k_equals_mono_16k_within_resampler_tolerance(tmp_path):
    # a band-limited chord, written at 44.1 kHz stereo and generated directly at 16 kHz mono
    def chord(sr, seconds=3.0):
        t = np.arange(int(seconds * sr)) / sr
        return sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 440.0 * 1.25, 1760.0, 3520.0))

    stereo = np.stack([chord(44100), chord(44100)], axis=1)
    sf.write(tmp_path / "stereo.wav", stereo, 44100, subtype="FLOAT")
    from_file = waveform_to_examples(load_audio(tmp_path / "stereo.wav"))
    direct = waveform_to_examples(chord(SR).astype(np.float32))
    assert from_file.shape == direct.shape
    # ignore the resampler's edge transient in the first and last 50 ms
    np.testing.assert_allclose(from_file[:, 5:-5], direct[:, 5:-5], atol=0.02)


def test_real_ogg_matches_its_16k_version(fixtures):
    ogg = waveform_to_examples(load_audio(fixtures / "audio" / "openmic_000046_3840.ogg"))
    wav = waveform_to_examples(load_audio(fixtures / "audio" / "openmic_000046_3840_16k.wav"))
    assert ogg.shape == wav.shape == (10, 96, 64)
    # int16 rounding and resampler differences; log(. + 0.01) bounds their effect
    assert np.median(np.abs(ogg - wav)) < 0.01
    assert np.max(np.abs(ogg - wav)) < 0.5
