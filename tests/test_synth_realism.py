"""The real-timbre data: bank pool, recording chain, arrangements, hold-out-bank splits."""

import dataclasses
import hashlib
import json
import shutil
import subprocess

import numpy as np
import pytest

from instrec.datasets.synth import soundfonts, synth_dataset
from instrec.datasets.synth.recording import add_noise, apply_chain, draw_chain, room_impulse_response
from instrec.datasets.synth.render import Renderer, default_soundfont
from instrec.errors import InstrecError

SR = 16000


@pytest.fixture(scope="module")
def two_banks(module_tmp):
    """A pool of two banks without any download: TimGM6mb and a copy of it under another name."""
    root = module_tmp.mktemp("banks")
    other = root / "otherbank.sf2"
    shutil.copy(default_soundfont(), other)
    return [default_soundfont(), other]


def _music(seconds=3.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.2 * rng.standard_normal(t.size))).astype(np.float32)


def _schroeder_rt60(ir: np.ndarray) -> float:
    """RT60 extrapolated from the -5 to -25 dB part of the Schroeder backward integral."""
    energy = np.cumsum(ir[::-1] ** 2)[::-1]
    db = 10 * np.log10(energy / energy[0] + 1e-20)
    t5, t25 = np.argmax(db <= -5), np.argmax(db <= -25)
    return 3.0 * (t25 - t5) / SR


@pytest.mark.parametrize("rt60", [0.3, 0.9])
def test_room_reverb_tail_matches_the_drawn_rt60(rt60):
    room = {"size_m": [9.0, 7.0, 3.5], "rt60_s": rt60, "source_m": [2.0, 3.0, 1.5], "mic_m": [6.5, 4.0, 1.6]}
    measured = _schroeder_rt60(room_impulse_response(room, SR))
    assert measured == pytest.approx(rt60, rel=0.3)
    click = np.zeros(SR * 2, np.float32)
    click[100] = 1.0
    wet = apply_chain(click, SR, {"room": room})
    tail = np.abs(wet[100 + int(0.05 * SR):])
    assert tail.max() > 1e-3  # a click has a tail after the room
    dry_tail = np.abs(apply_chain(click, SR, {})[100 + int(0.05 * SR):])
    assert dry_tail.max() == 0.0


@pytest.mark.parametrize("colour", ["white", "pink", "brown", "hum"])
def test_noise_is_added_at_the_drawn_snr(colour):
    x = _music()
    snr = 17.3
    y = add_noise(x, snr, colour, SR, seed=4)
    noise = y.astype(np.float64) - x
    measured = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise**2))
    assert abs(measured - snr) < 1.0
    assert np.array_equal(y, add_noise(x, snr, colour, SR, seed=4))  # seeded


def test_band_limit_removes_energy_above_the_cutoff():
    x = np.random.default_rng(0).standard_normal(SR * 2).astype(np.float32) * 0.1
    y = apply_chain(x, SR, {"band_limit": {"highpass_hz": 200.0, "lowpass_hz": 3000.0}})
    spectrum = np.abs(np.fft.rfft(y)) ** 2
    freqs = np.fft.rfftfreq(y.size, 1 / SR)
    inside = spectrum[(freqs > 500) & (freqs < 2500)].mean()
    assert spectrum[freqs > 6000].mean() < inside * 10 ** (-20 / 10)  # 24 dB per octave: > 20 dB down an octave up
    assert spectrum[freqs < 50].mean() < inside * 10 ** (-20 / 10)


def test_level_mic_compressor_and_codec_change_the_signal_as_documented():
    x = _music()
    y = apply_chain(x, SR, {"level_dbfs": -6.0})
    assert 20 * np.log10(np.abs(y).max()) == pytest.approx(-6.0, abs=0.01)
    mic = {"highpass_hz": 100.0, "low_shelf_db": 0.0, "presence_hz": 3000.0, "presence_db": 6.0, "high_shelf_db": 0.0}
    assert not np.allclose(apply_chain(x, SR, {"mic": mic}), x, atol=1e-3)
    comp = apply_chain(x, SR, {"compressor": {"threshold_db": -30.0, "ratio": 4.0}})
    assert np.abs(comp).max() < np.abs(x).max()
    coded = apply_chain(x, SR, {"codec": {"format": "mp3", "vbr_quality": 9.0}})
    assert coded.shape == x.shape and not np.array_equal(coded, x)
    assert np.corrcoef(coded, x)[0, 1] > 0.9  # aligned: no encoder delay left


def test_drawn_chains_are_seeded_and_json_ready():
    a = [draw_chain(np.random.default_rng(i)) for i in range(40)]
    assert a == [draw_chain(np.random.default_rng(i)) for i in range(40)]
    assert json.loads(json.dumps(a)) == a
    assert any(c["room"] for c in a) and any(c["room"] is None for c in a)
    x = _music(1.5)
    for chain in a[:10]:  # every drawn chain runs (rooms too large for their RT60 never drawn)
        assert apply_chain(x, SR, chain).shape == x.shape


class _NoFluteInBank1(Renderer):
    def has_program(self, soundfont, program):
        return not (soundfont == 1 and program == 73) and super().has_program(soundfont, program)


def test_a_bank_that_cannot_play_a_class_never_plays_it(two_banks):
    from instrec.datasets.synth.openmic import ClipJob, available_classes, render_clip

    renderer = _NoFluteInBank1(two_banks, SR)
    available = available_classes(renderer)
    assert available["flute"] == [(0, 73)]
    flutes = 0
    for index in range(60):
        clip = render_clip(renderer, ClipJob(index, 1, "", available, SR, write=False))
        for part in clip["parts"]:
            flutes += part["class"] == "flute"
            assert not (part["class"] == "flute" and part["bank"] == "otherbank")
    assert flutes > 0


def test_clips_mix_banks_arrangements_and_performances(two_banks, tmp_path):
    root = synth_dataset("openmic", tmp_path / "om", size=40, soundfonts=two_banks, seed=2, workers=1)
    clips = json.loads((root / "synth-metadata.json").read_text())["clips"]
    assert {c["arrangement"] for c in clips} == {"solo", "ensemble", "band"}
    assert any(len({p["bank"] for p in c["parts"]}) == 2 for c in clips)
    for c in clips:
        assert {"room", "mic", "noise", "band_limit", "compressor", "codec", "level_dbfs"} <= set(c["recording"])
        if c["arrangement"] == "solo":
            assert len(c["parts"]) == 1 and c["material"] in ("notes", "one-shots", "phrase")
        for p in c["parts"]:
            assert {"articulation", "dynamics", "vibrato", "expression"} <= set(p["performance"])
            if p["register"]:
                from instrec.datasets.classes import PITCH_RANGES

                low, high = PITCH_RANGES[p["class"]]
                assert low <= p["register"][0] < p["register"][1] <= high


@pytest.mark.parametrize("kind", ["openmic", "nsynth", "freesound"])
def test_hold_out_bank_keeps_the_bank_out_of_train_and_validation(two_banks, tmp_path, kind):
    root = synth_dataset(kind, tmp_path / kind, size=40, soundfonts=two_banks, seed=1, workers=1,
                         hold_out_bank="otherbank")
    if kind == "openmic":
        clips = json.loads((root / "synth-metadata.json").read_text())["clips"]
        items = [(c["split"], p["bank"]) for c in clips for p in c["parts"]]
        test_keys = set((root / "partitions" / "split01_test.csv").read_text().split())
        assert test_keys == {c["sample_key"] for c in clips if c["split"] == "test"}
    elif kind == "nsynth":
        notes = json.loads((root / "synth-metadata.json").read_text())["notes"]
        items = [(n["split"], n["bank"]) for n in notes.values()]
        for split in ("train", "valid", "test"):  # the NSynth folders agree with the metadata
            keys = json.loads((root / f"nsynth-{split}" / "examples.json").read_text())
            assert all(notes[k]["split"] == split for k in keys)
    else:
        items = [(s["split"], s["bank"]) for s in json.loads((root / "metadata.json").read_text())]
    assert any(split == "test" for split, _ in items)
    for split, bank in items:
        assert (bank == "otherbank") == (split == "test"), (split, bank)


@pytest.mark.parametrize("kind, size", [("openmic", 12), ("nsynth", 12), ("freesound", 12)])
def test_an_interrupted_rendering_resumes_where_it_stopped(two_banks, tmp_path, monkeypatch, kind, size):
    """Stopped at item 7 of 12, a rerun renders only the rest; the output equals an uninterrupted
    run's, byte for byte, and the per-item cache is gone once the dataset is complete."""
    from instrec.datasets.synth import pool

    whole = synth_dataset(kind, tmp_path / "whole", size=size, soundfonts=two_banks, seed=4, workers=1)
    real_call, rendered = pool._call, []

    def stop_at_seven(args):
        fn, item, cached = args
        if cached is not None and not cached[0].exists():
            if item.index == 7:
                raise KeyboardInterrupt
            rendered.append(item.index)
        return real_call(args)

    monkeypatch.setattr(pool, "_call", stop_at_seven)
    with pytest.raises(KeyboardInterrupt):
        synth_dataset(kind, tmp_path / "resumed", size=size, soundfonts=two_banks, seed=4, workers=1)
    assert sorted(rendered) == list(range(7)) and (tmp_path / "resumed" / pool.RENDER_CACHE).is_dir()
    rendered.clear()
    monkeypatch.setattr(pool, "_call", lambda args: (rendered.append(args[1].index)
                                                     if not args[2][0].exists() else None) or real_call(args))
    synth_dataset(kind, tmp_path / "resumed", size=size, soundfonts=two_banks, seed=4, workers=1)
    assert sorted(rendered) == list(range(7, size))
    assert not (tmp_path / "resumed" / pool.RENDER_CACHE).exists()
    files = sorted(p.relative_to(whole) for p in whole.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "resumed") for p in (tmp_path / "resumed").rglob("*")
                           if p.is_file())
    for name in files:
        text = (whole / name).read_bytes().replace(str(tmp_path / "whole").encode(), b"ROOT")
        assert text == (tmp_path / "resumed" / name).read_bytes().replace(str(tmp_path / "resumed").encode(), b"ROOT"), name


def test_a_changed_job_is_rendered_again_not_taken_from_the_cache(two_banks, tmp_path):
    from instrec.datasets.synth import pool
    from instrec.datasets.synth.openmic import ClipJob, available_classes, render_clip, sample_key

    renderer = Renderer(two_banks, SR)
    job = ClipJob(0, 1, str(tmp_path), available_classes(renderer), SR, labels="full")
    first = pool.render_all(render_clip, [job], renderer, workers=1, resume_in=tmp_path)[0]
    again = pool.render_all(render_clip, [job], renderer, workers=1, resume_in=tmp_path)[0]
    assert again == json.loads(json.dumps(first))
    other = pool.render_all(render_clip, [dataclasses.replace(job, seed=2)], renderer, workers=1,
                            resume_in=tmp_path)[0]
    assert other["sample_key"] == sample_key(0) and other != again


def test_hold_out_bank_not_in_the_pool_is_one_clear_error(tmp_path):
    with pytest.raises(InstrecError, match="fluidr3: not in the pool"):
        synth_dataset("openmic", tmp_path / "x", size=4, seed=0, workers=1, hold_out_bank="fluidr3")
    with pytest.raises(InstrecError, match="no other bank"):
        synth_dataset("openmic", tmp_path / "y", size=4, seed=0, workers=1, hold_out_bank="timgm6mb")


# --- soundfonts fetch, on a local .deb (no network) ---

@pytest.fixture
def deb_fixture(tmp_path, monkeypatch):
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not available")
    payload = b"RIFF fake soundfont for the fetch test" * 100
    pkg = tmp_path / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text("Package: test-soundfont\nVersion: 1.0\nArchitecture: all\n"
                                            "Maintainer: instrec <t@example.invalid>\nDescription: test\n")
    (pkg / "usr/share/sounds/sf2").mkdir(parents=True)
    (pkg / "usr/share/sounds/sf2/Test.sf2").write_bytes(payload)
    debs = tmp_path / "debs"
    debs.mkdir()
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(pkg), str(debs / "test-soundfont_1.0_all.deb")],
                   check=True, capture_output=True)
    bank = soundfonts.Bank("testbank", "Test.sf2", "test-soundfont", "usr/share/sounds/sf2/Test.sf2",
                           (hashlib.sha256(payload).hexdigest(),), "testbank", "MIT")
    monkeypatch.setitem(soundfonts.BANKS, "testbank", bank)
    monkeypatch.setenv("INSTREC_CACHE", str(tmp_path / "cache"))
    return debs, payload


def test_fetch_unpacks_and_verifies_a_local_deb(deb_fixture, tmp_path):
    debs, payload = deb_fixture
    got, failed = soundfonts.fetch(["testbank"], deb_dir=debs)
    assert not failed and got["testbank"] == tmp_path / "cache" / "soundfonts" / "Test.sf2"
    assert got["testbank"].read_bytes() == payload
    assert soundfonts.locate("testbank") == got["testbank"]
    assert not [p for p in (tmp_path / "cache" / "soundfonts").iterdir() if p.name.startswith(".")]  # no leftovers
    again, _ = soundfonts.fetch(["testbank"])  # cached: no .deb needed
    assert again["testbank"] == got["testbank"]


def test_fetch_refuses_a_wrong_checksum_and_keeps_nothing(deb_fixture, tmp_path, monkeypatch):
    debs, _ = deb_fixture
    bad = soundfonts.Bank("testbank", "Test.sf2", "test-soundfont", "usr/share/sounds/sf2/Test.sf2", ("0" * 64,),
                          "testbank", "MIT")
    monkeypatch.setitem(soundfonts.BANKS, "testbank", bad)
    got, failed = soundfonts.fetch(["testbank"], deb_dir=debs)
    assert not got and "unexpected sha256" in failed["testbank"]
    assert not (tmp_path / "cache" / "soundfonts" / "Test.sf2").exists()


def test_fetch_falls_back_cleanly_without_apt(deb_fixture, monkeypatch):
    monkeypatch.delenv("INSTREC_DEB_DIR", raising=False)
    monkeypatch.setattr(soundfonts.shutil, "which", lambda name: None)
    got, failed = soundfonts.fetch(["testbank"])
    assert not got and "by hand" in failed["testbank"]
    assert soundfonts.pool_paths([]) == [] and soundfonts.locate("timgm6mb") is not None  # TimGM6mb is always there


def test_soundfonts_cli_reports_a_failed_fetch_and_lists(deb_fixture, capsys, monkeypatch):
    from instrec.cli import main

    debs, _ = deb_fixture
    assert main(["soundfonts", "fetch", "testbank", "--deb-dir", str(debs / "missing")]) == 1
    err = capsys.readouterr().err
    assert "testbank: not fetched" in err and "rendering goes on with TimGM6mb" in err
    assert main(["soundfonts", "list", "timgm6mb"]) == 0
    assert "plays 18 classes" in capsys.readouterr().out


def test_clipping_flattens_the_peaks_hard_or_soft_and_then_the_level_is_set():
    t = np.arange(SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    hard = apply_chain(x, SR, {"clip": {"drive_db": 20.0, "shape": "hard"}, "level_dbfs": -6.0})
    soft = apply_chain(x, SR, {"clip": {"drive_db": 20.0, "shape": "soft"}, "level_dbfs": -6.0})
    for y in (hard, soft):
        assert 20 * np.log10(np.abs(y).max()) == pytest.approx(-6.0, abs=0.01)
    top = np.abs(hard).max()
    assert np.mean(np.abs(hard) > 0.999 * top) > 0.5  # a sine driven 20 dB past full scale is mostly flat tops
    assert np.mean(np.abs(x) > 0.999 * np.abs(x).max()) < 0.05
    assert 0 < np.mean(np.abs(soft) > 0.999 * top) < np.mean(np.abs(hard) > 0.999 * top)  # a tanh rounds them
    spectrum = lambda y: np.abs(np.fft.rfft(y)) ** 2  # noqa: E731
    assert spectrum(hard)[660] > 1e-2 * spectrum(hard)[220] > spectrum(x)[660]  # odd harmonics appear


def test_a_worn_recording_is_the_recording_chain_drawn_harsher_with_clipping_drawn_last():
    from instrec.datasets.synth.recording import draw_degradation

    chains = [draw_degradation(np.random.default_rng(i)) for i in range(400)]
    assert chains == [draw_degradation(np.random.default_rng(i)) for i in range(400)]
    assert json.loads(json.dumps(chains[:20])) == chains[:20]
    clipped = [c["clip"] for c in chains if c["clip"]]
    assert 0.4 < len(clipped) / len(chains) < 0.6 and {c["shape"] for c in clipped} == {"hard", "soft"}
    assert all(3 <= c["drive_db"] <= 24 for c in clipped)
    for i in range(20):  # the other steps are draw_chain's with the worn probabilities
        rest = draw_chain(np.random.default_rng(i), room_probability=0.3, noise_probability=0.6,
                          band_limit_probability=0.3, compress_probability=0.3, codec_probability=0.4)
        assert {k: v for k, v in chains[i].items() if k != "clip"} == rest
    assert np.mean([c["codec"] is not None for c in chains]) > np.mean([c["codec"] is not None for c in
                                                                        (draw_chain(np.random.default_rng(i))
                                                                         for i in range(400))])
    x = _music(1.5)
    for chain in chains[:10]:
        assert apply_chain(x, SR, chain).shape == x.shape
