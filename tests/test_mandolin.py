"""The modelled mandolin: the physical model, its material from a Debian package, and the real stage playing it."""

import dataclasses
import json

import numpy as np
import pytest
import soundfile as sf

from instrec.datasets.synth import mandolin, modelled, soundfonts
from instrec.errors import InstrecError

RATE = 16000


def _bodies(seed: int = 0) -> np.ndarray:
    """Twelve stand-in body responses: decaying noise, as a recorded body's response looks."""
    rng = np.random.default_rng(seed)
    t = np.arange(1024) / mandolin.RAW_RATE
    return rng.standard_normal((12, 1024)) * np.exp(-t / 0.008)


def _fundamental(audio: np.ndarray, rate: int, low: float, high: float) -> float:
    """The strongest spectral peak between ``low`` and ``high`` Hz, by zero-padded FFT."""
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size), 1 << 18))
    freqs = np.fft.rfftfreq(1 << 18, 1 / rate)
    band = (freqs > low) & (freqs < high)
    return float(freqs[band][np.argmax(spectrum[band])])


@pytest.mark.parametrize("frequency", [196.0, 440.0, 1318.5])
def test_a_string_sounds_at_its_frequency_and_rings_longer_with_a_higher_loop_gain(frequency):
    impulse = np.zeros(mandolin.MODEL_RATE)
    impulse[0] = 1.0
    out = mandolin.string(impulse, frequency, 0.995)
    found = _fundamental(out[2000:], mandolin.MODEL_RATE, frequency * 0.8, frequency * 1.2)
    assert abs(1200 * np.log2(found / frequency)) < 3  # the fractional delay keeps it in tune
    short = mandolin.string(impulse, frequency, 0.98)
    tail = slice(len(out) // 2, None)
    assert np.abs(out[tail]).max() > 3 * np.abs(short[tail]).max()


def test_a_plucked_course_is_in_tune_and_follows_its_body_and_pick():
    bodies = _bodies()
    note = mandolin.pluck(bodies, 64, body=2, seconds=1.5)
    assert note.dtype == np.float32 and note.shape == (int(1.5 * RATE),)
    assert np.isclose(np.abs(note).max(), 1.0) and np.isfinite(note).all()
    found = _fundamental(note[800:], RATE, 300, 360)
    assert abs(1200 * np.log2(found / 329.63)) < 10  # E4 (the two strings a little apart)
    assert not np.allclose(note, mandolin.pluck(bodies, 64, body=3, seconds=1.5))
    bright, soft = (mandolin.pluck(bodies, 64, body=2, pick=p, seconds=1.5) for p in (0.0, 0.9))
    high = lambda x: np.abs(np.fft.rfft(x))[len(x) // 4:].sum() / np.abs(np.fft.rfft(x)).sum()  # noqa: E731
    assert high(soft) < high(bright)  # a soft pick takes the highs off
    # the note rings and decays
    assert np.abs(note[:RATE // 4]).max() > 5 * np.abs(note[-RATE // 4:]).max()


def _deb_files(bodies: np.ndarray) -> dict[str, bytes]:
    return {f"{mandolin.RAWWAVES}/{name}": np.round(b * 8000).astype(">i2").tobytes()
            for name, b in zip(mandolin.BODIES, bodies)}


def test_the_bodies_come_from_the_debian_package_each_checked(tmp_path, monkeypatch, build_deb):
    import hashlib

    files = _deb_files(_bodies())
    monkeypatch.setattr(mandolin, "BODY_SHA256", {k.rsplit("/", 1)[1]: hashlib.sha256(v).hexdigest()
                                                 for k, v in files.items()})
    monkeypatch.setenv("INSTREC_CACHE", str(tmp_path / "cache"))
    debs = build_deb("stk", mandolin.VERSION, files)
    got, failed = soundfonts.fetch(["stk-mandolin"], deb_dir=debs)
    assert not failed and got["stk-mandolin"] == mandolin.bodies_path()
    bodies = mandolin.read_bodies()
    assert bodies.shape == (12, 1024)
    assert np.array_equal(np.round(bodies[4] * 32768), np.frombuffer(files[f"{mandolin.RAWWAVES}/mand5.raw"], ">i2"))
    assert soundfonts.locate("stk-mandolin") is not None
    # a file that is not the expected one is refused, in one line, and nothing is written
    mandolin.bodies_path().unlink()
    monkeypatch.setitem(mandolin.BODY_SHA256, "mand7.raw", hashlib.sha256(b"another body").hexdigest())
    got, failed = soundfonts.fetch(["stk-mandolin"], deb_dir=debs)
    assert not got and "mand7.raw has an unexpected sha256" in failed["stk-mandolin"]
    assert "\n" not in failed["stk-mandolin"] and not mandolin.bodies_path().exists()


def test_the_bodies_not_fetched_or_not_a_soundfont_are_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTREC_CACHE", str(tmp_path / "cache"))
    with pytest.raises(InstrecError, match="run `instrec soundfonts fetch stk-mandolin`"):
        modelled.check_modelled(("mandolin",))
    with pytest.raises(InstrecError, match="modelled instrument 'banjo': use one of mandolin"):
        modelled.check_modelled(("banjo",))
    with pytest.raises(InstrecError, match="stk-mandolin: not a SoundFont"):
        soundfonts.pool_paths(["stk-mandolin"])


@pytest.fixture
def fake_bodies(tmp_path, monkeypatch):
    """The stand-in bodies placed where a fetch puts them."""
    monkeypatch.setenv("INSTREC_CACHE", str(tmp_path / "cache"))
    path = mandolin.bodies_path()
    path.parent.mkdir(parents=True)
    sf.write(str(path), np.round(_bodies().T * 8000).astype(np.int16), mandolin.RAW_RATE, subtype="PCM_16")
    return path


def test_the_modelled_source_is_played_like_a_library_and_traced_in_the_metadata(fake_bodies):
    from instrec.datasets.classes import OPENMIC_CLASSES
    from instrec.datasets.synth.parts import real_clip

    (source,) = modelled.modelled_sources(("mandolin",), seed=3)
    assert source.label == "mandolin" and source.library == "stk.mandolin" and len(source.notes) == 96
    assert all(name.startswith("stk.mandolin/key") for name in source.note_names)
    training = {int(name.split("-body")[1].split("-")[0]) - 1 for name in source.note_names}
    assert training <= set(mandolin.TRAIN_BODIES)  # the held-out bodies are never in training material
    (again,) = modelled.modelled_sources(("mandolin",), seed=3)
    assert again.note_names == source.note_names and np.array_equal(again.notes[5], source.notes[5])
    audio, labels, meta = real_clip([source], np.random.default_rng(0), list(OPENMIC_CLASSES), arrangement="solo")
    assert labels[OPENMIC_CLASSES.index("mandolin")] == 1 and labels.sum() == 1
    (part,) = meta["parts"]
    assert part["library"] == "stk.mandolin" and {e["file"] for e in part["events"]} <= set(source.note_names)
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0.01


def test_the_stage_with_the_modelled_mandolin_learns_it_in_its_own_cache(tmp_path, fake_bodies):
    from instrec.datasets.synth import synth_dataset
    from instrec.real_stage import Stage, _settings, member_key, run_stage
    from tests.test_real_stage import _fake_recordings

    dataset = synth_dataset("openmic", tmp_path / "om", size=8, seed=3, workers=1, labels="full")
    root = tmp_path / "rec"
    _fake_recordings(root, ["francoiswnel.Ukulele"])
    stage = Stage(real_clips=10, overlay_clips=2, rendered_clips=2, negative_clips=2, negative_overlays=0, epochs=1,
                  members=(0,))
    modelled = dataclasses.replace(stage, modelled=("mandolin",))
    assert "modelled" not in _settings(stage)  # a stage without it keeps the cache names it had
    assert member_key(stage, "x", dataset, root) != member_key(modelled, "x", dataset, root)
    out = run_stage(None, tmp_path / "stage", modelled, dataset, recordings_root=root)
    card = json.loads((out / "model.json").read_text())
    assert dict(zip(card["classes"], card["trained_classes"]))["mandolin"]
    assert card["real_stage"]["modelled"] == ["mandolin"]
    (meta_path,) = (tmp_path / "stage").glob("clips-*.json")
    libraries = {p["library"] for m in json.loads(meta_path.read_text()) for p in m.get("parts", [])}
    assert libraries == {"francoiswnel.Ukulele", "stk.mandolin"}
    plain = run_stage(None, tmp_path / "stage", stage, dataset, recordings_root=root, out=tmp_path / "plain")
    assert not dict(zip(card["classes"], json.loads((plain / "model.json").read_text())["trained_classes"]))[
        "mandolin"]
    assert len(list((tmp_path / "stage").glob("clips-*.npz"))) == 2


def test_the_probes_pieces_are_solo_mandolin_of_ten_seconds_through_the_chain(fake_bodies):
    pieces = modelled.modelled_pieces(("mandolin",), seed=2, count=4)
    assert len(pieces) == 4 and {(rate, label) for _, rate, label in pieces} == {(RATE, "mandolin")}
    for audio, _, _ in pieces:
        assert audio.dtype == np.float32 and audio.shape == (10 * RATE,) and np.isfinite(audio).all()
        assert np.abs(audio).max() > 0.01
    again = modelled.modelled_pieces(("mandolin",), seed=2, count=4)
    assert all(np.array_equal(a, b) for (a, _, _), (b, _, _) in zip(pieces, again))  # the same for the same seed
    assert not np.array_equal(pieces[0][0], modelled.modelled_pieces(("mandolin",), seed=3, count=1)[0][0])


def test_one_string_is_not_a_course_and_stays_in_tune():
    bodies = _bodies()
    single = mandolin.pluck(bodies, 69, body=1, seconds=1.0, strings=1)
    assert abs(1200 * np.log2(_fundamental(single[800:], RATE, 400, 480) / 440.0)) < 5  # A4
    # the second string's detune only matters for a course
    assert np.array_equal(single, mandolin.pluck(bodies, 69, body=1, seconds=1.0, strings=1, detune=0.99))
    assert not np.allclose(single, mandolin.pluck(bodies, 69, body=1, seconds=1.0, strings=2))


def test_the_modelled_ukulele_is_single_nylon_strings_in_its_range_from_the_training_bodies(fake_bodies):
    from instrec.datasets.synth import ukulele

    (source,) = modelled.modelled_sources(("ukulele",), seed=4)
    assert source.label == "ukulele" and source.library == "stk.ukulele" and len(source.notes) == 96
    keys = {int(n.split("/key")[1].split("-")[0]) for n in source.note_names}
    assert keys <= set(range(ukulele.KEYS[0], ukulele.KEYS[1] + 1)) and len(keys) > 10
    bodies = {int(n.split("-body")[1].split("-")[0]) - 1 for n in source.note_names}
    assert bodies <= set(mandolin.TRAIN_BODIES)
    assert all(np.isfinite(a).all() and np.isclose(np.abs(a).max(), 1.0) for a in source.notes)
    (again,) = modelled.modelled_sources(("ukulele",), seed=4)
    assert np.array_equal(again.notes[7], source.notes[7])
    # nylon rings briefly: shorter notes than the mandolin's steel courses, on average
    (mand,) = modelled.modelled_sources(("mandolin",), seed=4)
    assert np.mean([a.size for a in source.notes]) < np.mean([a.size for a in mand.notes])
    pieces = modelled.modelled_pieces(("ukulele",), seed=1, count=2)
    assert {label for _, _, label in pieces} == {"ukulele"} and all(a.shape == (10 * RATE,) for a, _, _ in pieces)
    assert "ukulele" not in modelled.WHOLE_SAY  # the stage learns the real library: the probe keeps its usual share
