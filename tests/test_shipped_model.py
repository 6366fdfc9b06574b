"""The model shipped inside the package: present, intact, usable with no study and no network; and
`evaluate-audio` on labelled folders."""

import csv
import json
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from instrec.bundle import CARD, TENSORS
from instrec.weights import sha256_of as sha256
from tests.conftest import load_script
from instrec.cli import main
from instrec.errors import AudioError, InstrecError
from instrec.predict import SHIPPED, load_model

FIXTURES = Path(__file__).parent / "fixtures"
REAL_DEV = FIXTURES / "real-dev"
HELD_OUT = FIXTURES / "held-out-bank"


@pytest.fixture
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _labels(path: Path, rows) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "instruments"])
        writer.writerows(rows)
    return path


def test_shipped_file_is_small_and_matches_its_sha256():
    card = json.loads((SHIPPED / CARD).read_text())
    assert (SHIPPED / TENSORS).stat().st_size <= 25 * 2**20
    assert sha256(SHIPPED / TENSORS) == card["sha256"]
    assert card["representation"]["name"] == "logmel" and len(card["classes"]) == 20


def test_the_shipped_model_records_the_recipe_that_train_default_runs():
    """`instrec train-default` with no options reproduces the shipped files only if its Recipe is the one recorded."""
    from instrec.config import changed_settings
    from instrec.default_model import RUNTIME_SETTINGS, Recipe, recipe_members, recorded_recipe

    from instrec.default_model import base_model_path

    card = json.loads((SHIPPED / CARD).read_text())
    recorded = json.loads(json.dumps(recorded_recipe(Recipe())))  # as JSON holds it (tuples become lists)
    assert card["command"] == "instrec train-default" and card["recipe"] == recorded
    assert card["input_level"] == Recipe().input_level
    assert (card["threshold"], card["file_rule"]) == (Recipe().threshold, Recipe().file_rule)
    assert card["floor"] == Recipe().floor
    # the base networks the real stage starts from are the ones shipped as instrec/models/base, intact
    base = json.loads((base_model_path() / CARD).read_text())
    assert Recipe().base == "e4" and card["base"]["sha256"] == base["sha256"] == sha256(base_model_path() / TENSORS)
    _, members = recipe_members(Recipe())
    assert len(base["members"]) == len(members)
    for written, member in zip(base["members"], members):  # each base network trained as its member says
        assert not changed_settings(written["config"], member, ignore=RUNTIME_SETTINGS), written["config"]


def test_predict_uses_the_shipped_model_without_a_study_or_network(tmp_path, monkeypatch, offline, capsys):
    monkeypatch.chdir(tmp_path)  # no ./runs here
    clip = REAL_DEV / "tinysol__Fl-ord-C4-mf-N-T14d.wav"
    assert main(["predict", str(clip), "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["file"] == str(clip) and len(record["probabilities"]) == 20
    assert load_model().run == SHIPPED


def test_a_file_named_like_an_option_goes_after_double_dash(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(REAL_DEV / "tinysol__Fl-ord-C4-mf-N-T14d.wav", "-take1.wav")
    assert main(["predict", "--", "-take1.wav"]) == 0
    assert capsys.readouterr().out.startswith("-take1.wav [")


def test_a_one_shot_of_0_3_s_gets_a_prediction(tmp_path, capsys):
    sample, rate = sf.read(REAL_DEV / "tinysol__Cb-ord-A2-mf-2c-N.wav", dtype="float32")
    sf.write(tmp_path / "hit.wav", sample[: int(0.3 * rate)], rate)
    prediction = load_model().predict(tmp_path / "hit.wav")
    assert prediction.extra["padded_from_seconds"] == pytest.approx(0.3, abs=0.01)
    assert prediction.activity.shape == (1, 20) and np.isfinite(prediction.probs).all()
    assert main(["predict", str(tmp_path / "hit.wav")]) == 0
    assert "zero-padded" in capsys.readouterr().out


def test_held_out_bank_clips_are_recognised():
    """Solo clips rendered from a bank the shipped model never heard (csound, public domain): the first six
    solo clips of its held-out test split, not picked by score. The true instrument must rank in the model's
    top three for at least four of them (measured: see docs/model-card.md)."""
    model = load_model()
    rows = list(csv.DictReader(open(HELD_OUT / "labels.csv")))
    hits = 0
    for row in rows:
        probs = np.where(model.trained, model.predict(HELD_OUT / row["file"]).probs, -1)
        hits += row["instruments"] in [model.classes[i] for i in np.argsort(-probs)[:3]]
    assert len(rows) == 6 and hits >= 4


def test_evaluate_audio_equals_sklearn(tmp_path, capsys):
    from sklearn.metrics import average_precision_score, classification_report

    names = {"tinysol__Fl-ord-C4-mf-N-T14d.wav": "flute", "filosax__p1_01_Sax.wav": "saxophone",
             "phenicx_anechoic__violin1.wav": "violin", "irmas__02_-_And_The_Body_Will_Die-8.wav": "guitar;voice",
             "jtd__barronk-allgodschildren-drummondrrileyb-1990-8b77c067_drums.wav": "drums"}
    for name in names:
        shutil.copy(REAL_DEV / name, tmp_path / name)
    _labels(tmp_path / "labels.csv", names.items())
    assert main(["evaluate-audio", "--audio", str(tmp_path), "--out", str(tmp_path / "report")]) == 0
    printed = capsys.readouterr().out
    assert "top-1 accuracy on the 4 single-instrument files" in printed
    result = json.loads((tmp_path / "report" / "evaluation.json").read_text())
    model = load_model()
    probs = np.array([[item["probs"][c] for c in model.classes] for item in result["items"]])
    truth = np.array([[c in item["truth"] for c in model.classes] for item in result["items"]])
    assert result["threshold"] == model.threshold
    # F1 counts what predict reported: every class at the threshold, and where none is (and the gate heard one
    # instrument alone), at most the first, down to the model's floor
    reported = np.array([[c in item["reported"] for c in model.classes] for item in result["items"]])
    learned = np.where(model.trained, probs, -1.0)
    assert np.array_equal(reported & (learned >= model.threshold), learned >= model.threshold)
    for row, line in zip(reported, learned):
        extra = row & (line < model.threshold)
        assert not extra.any() or (extra.sum() == 1 and not (line >= model.threshold).any()
                                   and line[extra][0] == line.max() >= model.floor)
    for c, name in enumerate(model.classes):
        expected = classification_report(truth[:, c], reported[:, c], output_dict=True, zero_division=0)
        assert result["per_class"][name]["f1_macro"] == pytest.approx(expected["macro avg"]["f1-score"], abs=1e-6)
        if truth[:, c].any():
            assert result["per_class"][name]["ap"] == pytest.approx(average_precision_score(truth[:, c], probs[:, c]))
    single = [i for i, item in enumerate(result["items"]) if len(item["truth"]) == 1]
    ranked = np.where(model.trained, probs, -1)
    assert result["top1"] == pytest.approx(np.mean([model.classes[int(np.argmax(ranked[i]))] in result["items"][i]["truth"]
                                                    for i in single]))
    assert (tmp_path / "report" / "per_class_metrics.csv").exists() and (tmp_path / "report" / "confusion.csv").exists()


@pytest.mark.parametrize("rows,message", [
    ([("a.wav", "piano;kazoo")], "unknown instrument 'kazoo'"),
    ([("missing.wav", "piano")], "missing.wav not found"),
    ([("a.wav", "piano"), ("a.wav", "drums")], "listed twice"),
])
def test_evaluate_audio_bad_labels_one_line_exit_2(tmp_path, capsys, rows, message):
    shutil.copy(REAL_DEV / "tinysol__Fl-ord-C4-mf-N-T14d.wav", tmp_path / "a.wav")
    _labels(tmp_path / "labels.csv", rows)
    assert main(["evaluate-audio", "--audio", str(tmp_path), "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "labels.csv" in err[0]
    assert not (tmp_path / "report").exists()


def _held_out_clip() -> tuple[Path, np.ndarray, int]:
    """The first clip of the held-out-bank fixture: its path, its mono samples and their rate."""
    path = sorted(HELD_OUT.glob("*.ogg"))[0]
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    return path, audio.mean(axis=1), rate


def test_shift_probe_averages_the_plain_and_the_shifted_reading():
    """scripts/shift_probe.py (the model card's two-framings measurement): one shift is predict's own reading;
    two are the mean of the readings of the file and of the file without its first 0.48 s."""
    probe = load_script("shift_probe")
    model = load_model()
    path, audio, rate = _held_out_clip()
    np.testing.assert_allclose(probe.Shifted(model, (0.0,)).predict(path).probs, model.predict(path).probs, atol=1e-5)
    shifted = model.predict(audio[int(round(0.48 * rate)):], rate).probs
    assert not np.allclose(shifted, model.predict(path).probs, atol=1e-3)  # the second framing reads differently
    np.testing.assert_allclose(probe.Shifted(model, (0.0, 0.48)).predict(path).probs,
                               (model.predict(audio, rate).probs + shifted) / 2, atol=1e-6)


def test_level_gain_rules():
    from instrec.datasets.synth.recording import PEAK_DBFS as TRAINING_PEAK_DBFS
    from instrec.predict import LEVEL_PEAK_DBFS, level_gain

    for peak_db in (-40.0, -12.0, 0.0):
        peak = 10 ** (peak_db / 20)
        assert level_gain(peak, "none") == 1.0
        assert 20 * np.log10(peak * level_gain(peak, "fixed")) == pytest.approx(LEVEL_PEAK_DBFS)
        moved = 20 * np.log10(peak * level_gain(peak, "range"))
        assert moved == pytest.approx(float(np.clip(peak_db, *TRAINING_PEAK_DBFS)))
    assert level_gain(0.0, "fixed") == 1.0  # digital silence stays silence (and is refused later)
    with pytest.raises(InstrecError, match="input level rule 'loud'"):
        level_gain(0.5, "loud")
    with pytest.raises(InstrecError, match="input level rule"):
        load_model(input_level="loud")


def test_gain_on_log_mel_examples_equals_gain_on_the_waveform():
    import torch

    from instrec.frontend import LogMelExamples
    from instrec.predict import apply_gain

    rng = np.random.default_rng(4)
    audio = (0.01 * rng.standard_normal(16000 * 3) * np.hanning(16000 * 3)).astype(np.float32)
    frontend = LogMelExamples()
    for gain in (0.05, 1.0, 30.0):
        np.testing.assert_allclose(apply_gain(frontend(torch.from_numpy(audio)), gain).numpy(),
                                   frontend(torch.from_numpy(audio * np.float32(gain))).numpy(), atol=2e-4)


def test_fixed_input_level_makes_the_answer_independent_of_the_gain(tmp_path):
    """With the "fixed" rule a recording 30 dB quieter (or 6 dB louder) gets the same probabilities; without
    a rule it does not (the log-mel front end is not level-invariant), and a near-silent file is still silent."""
    path, audio, rate = _held_out_clip()
    fixed, plain = load_model(input_level="fixed"), load_model(input_level="none")
    reference = fixed.predict(audio, rate)
    for gain in (10 ** (-30 / 20), 2.0):
        louder = np.clip(audio * np.float32(gain), -1, 1)
        np.testing.assert_allclose(fixed.predict(louder, rate).probs, reference.probs, atol=2e-3)
        assert np.abs(plain.predict(louder, rate).probs - plain.predict(audio, rate).probs).max() > 0.01
    from instrec.predict import LEVEL_PEAK_DBFS

    assert LEVEL_PEAK_DBFS == -9.5  # the middle of the training clips' -18..-1 dBFS
    assert reference.extra["input_gain_db"] == pytest.approx(LEVEL_PEAK_DBFS - 20 * np.log10(np.abs(audio).max()),
                                                             abs=0.5)  # (the peak after resampling to 16 kHz)
    with pytest.raises(AudioError, match="silent"):
        fixed.predict(audio * np.float32(1e-6), rate)


def test_level_probe_relevels_to_a_seeded_peak():
    probe = load_script("level_probe")
    model = load_model()
    path, audio, rate = _held_out_clip()
    np.testing.assert_allclose(probe.Levelled(model, None, "none", 0).predict(path).probs,
                               load_model(input_level="none").predict(path).probs, atol=1e-6)
    levelled = probe.Levelled(model, (-40.0, -30.0), "none", 0)
    first = levelled.predict(path)
    assert np.array_equal(first.probs, levelled.predict(path).probs)  # the same seed, the same peak
    import zlib

    peak_db = np.random.default_rng([0, zlib.crc32(path.name.encode())]).uniform(-40.0, -30.0)
    quiet = audio * np.float32(10 ** (peak_db / 20) / np.abs(audio).max())
    np.testing.assert_allclose(first.probs, load_model(input_level="none").predict(quiet, rate).probs, atol=1e-6)
    assert not np.allclose(first.probs, load_model(input_level="none").predict(path).probs, atol=1e-3)


def test_excerpt_probe_cuts_a_seeded_excerpt():
    probe = load_script("excerpt_probe")
    model = load_model()
    path, audio, rate = _held_out_clip()
    whole = probe.Excerpt(model, 60.0, 0).predict(path)
    np.testing.assert_allclose(whole.probs, model.predict(audio, rate).probs, atol=1e-6)
    short = probe.Excerpt(model, 1.0, 0).predict(path)
    assert short.duration_seconds == pytest.approx(1.0, abs=0.01)
    assert np.array_equal(short.probs, probe.Excerpt(model, 1.0, 0).predict(path).probs)
    starts = set()
    for seed in range(4):
        excerpt = probe.Excerpt(model, 1.0, seed)
        starts.add(tuple(np.round(excerpt.predict(path).probs, 4)))
    assert len(starts) > 1  # the seed moves the excerpt


def test_input_level_option_of_predict(capsys):
    clip = str(REAL_DEV / "tinysol__Fl-ord-C4-mf-N-T14d.wav")  # peaks at -34 dBFS
    assert main(["predict", clip, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["input_gain_db"] == pytest.approx(24.6, abs=0.5)  # to -9.5 dBFS
    assert main(["predict", clip, "--format", "json", "--input-level", "none"]) == 0
    assert json.loads(capsys.readouterr().out)["input_gain_db"] == 0.0
    assert main(["predict", clip, "--input-level", "loud"]) == 2
    assert "input level rule 'loud': use one of none, fixed, range" in capsys.readouterr().err


HELD_OUT_REAL = FIXTURES / "real-heldout"


@pytest.mark.parametrize("label", ["ukulele", "banjo"])
def test_ukulele_and_banjo_rank_in_the_top_three_on_notes_it_never_heard(label):
    """Notes of the real libraries that training always leaves out (real_stage.FIXTURE_FILES): the class ranks in the
    top three for at least three of the four (measured: all four ukulele notes; three banjo notes, the low F#3 is
    taken for bass, guitar and piano; the model before the real stage: none)."""
    model = load_model()
    rows = [r for r in csv.DictReader(open(HELD_OUT_REAL / "labels.csv")) if r["instruments"] == label]
    assert len(rows) == 4 and model.trained[model.classes.index(label)]
    hits = 0
    for row in rows:
        probs = np.where(model.trained, model.predict(HELD_OUT_REAL / row["file"]).probs, -1)
        hits += label in [model.classes[i] for i in np.argsort(-probs)[:3]]
    assert hits >= 3


def test_sounds_that_are_no_instrument_report_nothing_and_speech_reports_voice():
    """The issue's no-instrument signals report nothing (the model before the real stage: 7 of 9 reported an
    instrument). Speech -- spoken letters the model never heard -- reports voice; it is not yet voice alone
    (clarinet is reported too, at about the same probability: docs/model-card.md)."""
    from instrec.datasets.synth.negatives import test_signals

    model = load_model()
    for name, audio in test_signals().items():
        assert model.predict(audio, sample_rate=16000).instruments() == [], name
    rows = [r for r in csv.DictReader(open(HELD_OUT_REAL / "labels.csv")) if r["instruments"] == "voice"]
    pause = np.zeros(4000, np.float32)
    spoken = np.concatenate([x for r in rows * 3 for x in (sf.read(HELD_OUT_REAL / r["file"], dtype="float32")[0],
                                                            pause)])
    reported = [c for c, _ in model.predict(spoken, sample_rate=16000).instruments()]
    assert "voice" in reported and len(reported) <= 2


def _music(name: str) -> np.ndarray:
    """A rendered clip of the held-out bank (known content: its labels.csv), mono at 16 kHz."""
    from instrec.audio import load_audio

    return load_audio(HELD_OUT / name)


@pytest.mark.parametrize("name", ["000010_7680.ogg", "000040_0.ogg", "000080_0.ogg"])
def test_silence_and_position_do_not_change_the_answer(name):
    """Digital silence before, after or around the music, of any length, and where the music lies in the file:
    the same probabilities (the examples are placed from the first sound), so the same instruments."""
    model = load_model()
    music = _music(name)
    alone = model.predict(music, sample_rate=16000)
    z = lambda seconds: np.zeros(int(seconds * 16000), np.float32)  # noqa: E731
    for signal in (np.concatenate([z(1.3), music]), np.concatenate([z(7.77), music]),
                   np.concatenate([music, z(15)]), np.concatenate([z(3.21), music, z(11.1)]),
                   np.concatenate([z(0.005), music, z(0.5)])):
        other = model.predict(signal, sample_rate=16000)
        np.testing.assert_allclose(other.probs, alone.probs, atol=1e-5)
        assert other.instruments() == alone.instruments()


@pytest.mark.parametrize("name", ["000010_7680.ogg", "000040_0.ogg", "000080_0.ogg"])
def test_music_repeated_with_silence_between_keeps_its_answer(name):
    """The same music three times with silence between (each time framed from its own start): every probability
    within 0.02 of the music alone, the same instruments reported."""
    model = load_model()
    music = _music(name)
    alone = model.predict(music, sample_rate=16000)
    gap = np.zeros(16000 * 2, np.float32)
    repeated = model.predict(np.concatenate([music, gap, music, gap, music]), sample_rate=16000)
    assert np.abs(repeated.probs - alone.probs).max() <= 0.02
    assert [c for c, _ in repeated.instruments()] == [c for c, _ in alone.instruments()]
    assert repeated.extra["segments"] == 3 * alone.extra["segments"]


def test_leading_silence_in_a_44k_file_changes_almost_nothing(tmp_path):
    """At 44.1 kHz the music's start falls between the 16 kHz samples, so silence before it moves the resampled
    music by a fraction of a sample: within 0.02 of the file without it."""
    import soxr

    model = load_model()
    music = soxr.resample(_music("000040_0.ogg"), 16000, 44100).astype(np.float32)
    sf.write(tmp_path / "plain.wav", music, 44100)
    sf.write(tmp_path / "later.wav", np.concatenate([np.zeros(103_421, np.float32), music]), 44100)
    plain, later = model.predict(tmp_path / "plain.wav"), model.predict(tmp_path / "later.wav")
    assert np.abs(plain.probs - later.probs).max() <= 0.02
    assert plain.instruments() == later.instruments() or \
        [c for c, _ in plain.instruments()] == [c for c, _ in later.instruments()]


def test_windows_are_whole_and_evenly_spaced():
    from instrec.predict import windows

    assert windows(4) == [(0, 4)] and windows(10) == [(0, 10)]
    assert windows(11) == [(0, 10), (1, 11)]
    assert windows(32) == [(0, 10), (7, 17), (15, 25), (22, 32)]
    for n in range(11, 200):
        spans = windows(n)
        assert len(spans) == -(-n // 10) and all(b - a == 10 for a, b in spans)
        assert spans[0][0] == 0 and spans[-1][1] == n  # every example is in a window


def test_json_timeline_of_an_untrained_class_is_null():
    model = load_model()
    record = model.predict(_music("000040_0.ogg"), sample_rate=16000).to_dict()
    assert record["probabilities"]["mandolin"] is None and record["activity"]["mandolin"] is None
    assert all(isinstance(v, float) for v in record["activity"]["piano"])


def test_segments_recover_the_entries_and_exits_of_rendered_parts_within_one_step():
    """Guitar, violin, guitar (held-out rendered clips of 10 s): each instrument's segments start and end within one
    0.96 s step of where its clip does, and nothing else is found."""
    from instrec.segments import segments

    guitar, violin = _music("000010_7680.ogg"), _music("000048_0.ogg")
    found = segments(load_model().predict(np.concatenate([guitar, violin, guitar]), sample_rate=16000))
    truth = [("guitar", 0.0, 10.0), ("violin", 10.0, 20.0), ("guitar", 20.0, 30.0)]
    assert [r["instrument"] for r in found] == [name for name, _, _ in truth]
    for row, (_, start, end) in zip(found, truth):
        assert abs(row["start"] - start) <= 0.96 and abs(row["end"] - end) <= 0.96, row
        assert 0.4 <= row["confidence"] <= 1


def test_segment_rule_hysteresis_merging_and_minimum_length():
    from instrec.segments import SegmentRule, class_segments

    rule = SegmentRule(on=0.5, off=0.3, min_steps=2, merge_gap=1)
    values = np.array([0.1, 0.6, 0.4, 0.35, 0.2, 0.6, 0.7, 0.1, 0.1, 0.9, 0.1, 0.1, 0.55, 0.6, 0.6])
    # 1-3 stays on above 0.3 (hysteresis); 5-6 is 1 step after it: merged; 9 alone is too short; 12-14 runs to the end
    assert class_segments(values, rule) == [(1, 7), (12, 15)]
    assert class_segments(values, SegmentRule(0.5, 0.5, 1, 0)) == [(1, 2), (5, 7), (9, 10), (12, 15)]
    assert class_segments(np.zeros(5), rule) == []


def test_timelines_out_as_audacity_labels_and_valid_jams(tmp_path, capsys):
    import jams

    from instrec.cli import main

    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "take.wav", np.concatenate([_music("000010_7680.ogg"), _music("000048_0.ogg")]), 16000)
    assert main(["predict", str(tmp_path / "in"), "--format", "audacity", "--timelines", str(tmp_path / "tl")]) == 0
    labels = [line.split("\t") for line in (tmp_path / "tl" / "take.txt").read_text().splitlines()]
    assert [label.split(" (")[0] for _, _, label in labels] == ["guitar", "violin"]
    assert all(float(start) < float(end) for start, end, _ in labels)
    assert main(["predict", str(tmp_path / "in"), "--format", "audacity", "--timelines", str(tmp_path / "tl")]) == 2
    assert "take.txt: already there" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "in"), "--format", "jams", "--timelines", str(tmp_path / "tj")]) == 0
    document = jams.load(str(tmp_path / "tj" / "take.jams"), validate=True, strict=True)
    document.validate()
    assert document.file_metadata.duration == pytest.approx(20.0)
    tags = {a.sandbox.instrument: [(o.time, o.time + o.duration) for o in a.data] for a in document.annotations}
    assert set(tags) == {"guitar", "violin"} and all(a.namespace == "tag_open" for a in document.annotations)
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "in" / "take.wav"), "--format", "segments"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert rows[0] == "file,start,end,instrument,confidence" and len(rows) == 3
