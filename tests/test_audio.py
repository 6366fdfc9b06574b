import numpy as np
import pytest
import soundfile as sf

from instrec.audio import find_audio_files, load_audio
from instrec.cli import main
from instrec.errors import AudioError


def _bad_files(tmp_path, fixtures):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.ogg"
    text.write_text("this is not audio\n" * 20)
    truncated = tmp_path / "truncated.ogg"
    truncated.write_bytes((fixtures / "audio" / "openmic_000046_3840.ogg").read_bytes()[:300])
    nan = tmp_path / "nan.wav"
    data = np.zeros(16000, np.float32)
    data[100] = np.nan
    sf.write(nan, data, 16000, subtype="FLOAT")
    return {
        "missing": (tmp_path / "missing.wav", "no such file"),
        "empty": (empty, "empty"),
        "non-audio": (text, "not a readable audio file"),
        "truncated": (truncated, "not a readable audio file"),
        "nan": (nan, "NaN"),
    }


@pytest.mark.parametrize("kind", ["missing", "empty", "non-audio", "truncated", "nan"])
def test_bad_input_gives_one_line_error(tmp_path, fixtures, kind, capsys):
    path, words = _bad_files(tmp_path, fixtures)[kind]
    with pytest.raises(AudioError, match=words):
        load_audio(path)
    rc = main(["features", str(path), "--out", str(tmp_path / "out.npy")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and str(path) in err and "Traceback" not in err
    assert not (tmp_path / "out.npy").exists()


@pytest.mark.parametrize("fmt,subtype", [("wav", "PCM_16"), ("flac", "PCM_16"), ("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")])
def test_formats_load_as_mono_16k(tmp_path, fmt, subtype):
    t = np.arange(22050 * 2) / 22050
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 440 * t)], 1)
    path = tmp_path / f"tone.{fmt}"
    sf.write(path, stereo, 22050, subtype=subtype)
    samples = load_audio(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - 32000) < 2000  # mp3 adds encoder delay
    assert 0.15 < np.sqrt(np.mean(samples**2)) < 0.25


def test_peak_normalisation_is_optional(fixtures):
    raw = load_audio(fixtures / "audio" / "nsynth_bass_acoustic_000-036-075.wav")
    normed = load_audio(fixtures / "audio" / "nsynth_bass_acoustic_000-036-075.wav", peak_normalize=True)
    assert np.max(np.abs(raw)) < 1.0
    assert np.isclose(np.max(np.abs(normed)), 1.0)
    np.testing.assert_allclose(normed, raw / np.max(np.abs(raw)), rtol=1e-6)


def test_find_audio_files_recurses_and_sorts(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ["b/2.wav", "1.flac", "b/skip.txt"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in find_audio_files([tmp_path])] == ["1.flac", "b/2.wav"]


def test_features_cli_writes_logmel(tmp_path, fixtures):
    out = tmp_path / "x.npy"
    assert main(["features", str(fixtures / "audio" / "openmic_000046_3840.ogg"), "--out", str(out)]) == 0
    x = np.load(out)
    assert x.shape == (10, 96, 64) and x.dtype == np.float32
