import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from instrec.audio import load_audio
from instrec.cli import main
from instrec.config import TrainConfig
from instrec.datasets.openmic import OpenMIC
from instrec.datasets.synth import synth_dataset
from instrec.errors import AudioError, InstrecError
from instrec.frontend import waveform_to_examples
from instrec.predict import examples_in_chunks, load_model
from instrec.representations.registry import build_representation
from instrec.training import run_training


@pytest.fixture(scope="module")
def trained(module_tmp):
    root = module_tmp.mktemp("predict")
    # dry band clips: these tests are about the predict path, not about how hard the data is
    data = synth_dataset("openmic", root / "openmic", size=240, seed=7, workers=1, recording=False, arrangements=("band",))
    run = root / "run"
    run_training(data, build_representation("logmel"), TrainConfig(epochs=40, batch_size=16, lr=2e-3), run)
    return data, run


def test_probabilities_and_timeline(trained):
    data, run = trained
    model = load_model(run)
    dataset = OpenMIC(data)
    prediction = model.predict(dataset.audio_path(dataset.keys("test")[0]))
    assert prediction.probs.shape == (20,) and ((prediction.probs >= 0) & (prediction.probs <= 1)).all()
    assert prediction.activity.shape == (10, 20) and ((prediction.activity >= 0) & (prediction.activity <= 1)).all()
    untrained = [dataset.classes.index(c) for c in ("mandolin", "ukulele")]  # never labelled in GM renderings
    assert not prediction.trained[untrained].any() and prediction.trained.sum() == 18
    assert np.array_equal(prediction.present, (prediction.probs >= 0.5) & prediction.trained)
    record = prediction.to_dict()
    assert set(record["probabilities"]) == set(dataset.classes) and len(record["activity"]["piano"]) == 10
    assert record["probabilities"]["mandolin"] is None and record["probabilities"]["piano"] is not None
    assert record["duration_seconds"] == pytest.approx(10.0, abs=0.01)


def test_rendered_clips_are_recognised(trained):
    """On held-out rendered clips, labelled-present instruments score higher than labelled-absent ones."""
    from sklearn.metrics import roc_auc_score

    data, run = trained
    model = load_model(run)
    dataset = OpenMIC(data)
    test = dataset.split("test")
    scores, truth = [], []
    for i, key in enumerate(test.keys):
        probs = model.predict(dataset.audio_path(key)).probs
        scores += list(probs[test.y_mask[i]])
        truth += list(test.labels[i][test.y_mask[i]])
    assert roc_auc_score(truth, scores) > 0.65


def test_chunked_framing_equals_whole_signal():
    """Streamed in blocks and chunks, a file's examples are those of framing it at once, PHASES times (an example
    every 0.24 s)."""
    from instrec.predict import PHASE_SAMPLES, PHASES

    rng = np.random.default_rng(0)
    signal = (0.1 * rng.standard_normal(16000 * 75)).astype(np.float32)
    whole = waveform_to_examples(signal, hop_frames=96 // PHASES)
    blocks = [signal[i:i + 12345] for i in range(0, signal.size, 12345)]
    notes = {}
    chunked = torch.cat(list(examples_in_chunks(iter(blocks), chunk_examples=7, notes=notes))).numpy()
    assert chunked.shape == whole.shape == ((16000 * 75 - 15600) // PHASE_SAMPLES + 1, 96, 64)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    assert notes["start"] == [k * PHASE_SAMPLES for k in range(len(whole))]
    assert notes["phase"] == [k % PHASES for k in range(len(whole))] and set(notes["segment"]) == {0}


@pytest.mark.parametrize("blocks,chunk", [(None, 64), (1234, 1), (40000, 3)])
def test_silence_splits_segments_each_framed_from_its_own_start(blocks, chunk):
    """Silence before, after and between the music (a run of at least 0.96 s) belongs to no segment; each
    segment is framed from its first loud sample; a shorter pause stays inside its segment; a segment shorter
    than one example is zero-padded to one."""
    from instrec.predict import GAP_SAMPLES, PHASE_SAMPLES, PHASES

    rng = np.random.default_rng(1)
    loud = lambda n: np.where(rng.random(n) < 0.5, -1, 1) * rng.uniform(0.01, 0.2, n).astype(np.float32)  # noqa: E731
    music, hit = loud(16000 * 3), loud(4000)
    z = lambda n: np.zeros(n, np.float32)  # noqa: E731
    signal = np.concatenate([z(7777), music, z(GAP_SAMPLES - 1), music, z(GAP_SAMPLES), hit, z(30000)])
    parts = [signal] if blocks is None else np.split(signal, np.arange(blocks, signal.size, blocks))
    notes = {}
    examples = torch.cat(list(examples_in_chunks(iter(parts), chunk_examples=chunk, notes=notes))).numpy()
    first = 7777  # the pause shorter than GAP_SAMPLES stays inside the first segment
    second = first + 2 * music.size + GAP_SAMPLES - 1 + GAP_SAMPLES
    span = 2 * music.size + GAP_SAMPLES - 1
    expected = [first + k * PHASE_SAMPLES for k in range((span - 15600) // PHASE_SAMPLES + 1)] + [second]
    assert notes["start"] == expected and notes["segment"] == [0] * (len(expected) - 1) + [1]
    np.testing.assert_allclose(examples[:-1], waveform_to_examples(signal[first:first + span], 96 // PHASES),
                               atol=1e-5)
    padded = np.concatenate([hit, z(15600 - hit.size)])
    np.testing.assert_allclose(examples[-1], waveform_to_examples(padded)[0], atol=1e-5)


def test_long_file_streamed_equals_in_memory(trained, tmp_path):
    data, run = trained
    dataset = OpenMIC(data)
    clips = [load_audio(dataset.audio_path(k)) for k in dataset.keys("train")[:8]]
    long = np.concatenate(clips)  # 80 s
    sf.write(tmp_path / "long.wav", np.stack([long, long], 1), 16000, subtype="FLOAT")
    model = load_model(run)
    streamed = model.predict(tmp_path / "long.wav")
    in_memory = model.predict(long, sample_rate=16000)
    assert streamed.activity.shape == (83, 20)
    np.testing.assert_allclose(streamed.probs, in_memory.probs, atol=1e-5)
    np.testing.assert_allclose(streamed.activity, in_memory.activity, atol=1e-5)


def test_bad_inputs_are_reported_and_the_run_goes_on(trained, tmp_path, capsys):
    data, run = trained
    folder = tmp_path / "music"
    folder.mkdir()
    good = OpenMIC(data).audio_path(OpenMIC(data).keys("test")[0])
    (folder / "good.ogg").write_bytes(good.read_bytes())
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    (folder / "empty.flac").write_bytes(b"")
    (folder / "notes.mp3").write_text("not audio at all\n" * 50)
    sf.write(folder / "silent.wav", np.zeros(16000 * 3, np.float32), 16000)
    sf.write(folder / "dc.wav", 0.1 * np.ones(8000, np.float32), 16000)  # a DC offset: silent
    # the same through the resampler, whose filter rings where the offset starts and stops: still silent
    sf.write(folder / "dc44.wav", 0.5 * np.ones(88200, np.float32), 44100)
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(4800) / 16000).astype(np.float32)
    sf.write(folder / "short.wav", tone, 16000)  # a 0.3 s one-shot: zero-padded to one example
    rc = main(["predict", str(folder), "--model", str(run), "--plot", str(tmp_path / "plots")])
    captured = capsys.readouterr()
    assert rc == 1
    lines = captured.out.strip().splitlines()
    assert len(lines) == 2 and "good.ogg" in captured.out
    assert "short.wav [0.3 s] (shorter than one 0.96 s example: zero-padded)" in captured.out
    expected = {"corrupt.wav": "not a readable audio file", "empty.flac": "empty", "notes.mp3": "not a readable",
                "silent.wav": "silent", "dc.wav": "silent", "dc44.wav": "silent"}
    for name, words in expected.items():
        line = next(line for line in captured.err.splitlines() if name in line)
        assert words in line, line
    assert "6 of 8 files" in captured.err
    assert (tmp_path / "plots" / "good.png").read_bytes()[:4] == b"\x89PNG"


def test_json_and_csv_formats(trained, capsys):
    data, run = trained
    clip = str(OpenMIC(data).audio_path(OpenMIC(data).keys("test")[0]))
    assert main(["predict", clip, "--model", str(run), "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["file"] == clip and len(record["probabilities"]) == 20
    assert main(["predict", clip, "--model", str(run), "--format", "csv", "--threshold", "0"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "file,instrument,probability,present" and len(lines) == 21
    rows = {line.split(",")[1]: line.split(",")[2:] for line in lines[1:]}
    assert rows["mandolin"] == ["", "0"] and rows["ukulele"] == ["", "0"]  # untrained: never reported
    assert all(v[1] == "1" for c, v in rows.items() if c not in ("mandolin", "ukulele"))  # threshold 0


def test_model_refuses_mismatched_weights(tmp_path):
    # its own small dataset: each clip goes through VGGish, and the test is about the weights file, not the model
    data = synth_dataset("openmic", tmp_path / "openmic", size=24, seed=7, workers=1, recording=False,
                         arrangements=("band",))
    torch.manual_seed(0)
    from instrec.representations.vggish import VGGish

    weights = tmp_path / "w.pth"
    torch.save(VGGish().state_dict(), weights)
    run = tmp_path / "run"
    run_training(data, build_representation("vggish", weights=weights), TrainConfig(epochs=1), run)
    noise = 0.1 * np.random.default_rng(0).standard_normal(16000 * 2)
    assert load_model(run).predict(noise, sample_rate=16000).probs.shape == (20,)
    torch.manual_seed(1)
    torch.save(VGGish().state_dict(), weights)  # replaced by different weights
    with pytest.raises(InstrecError, match="not the file this model was trained with"):
        load_model(run)
    weights.unlink()
    with pytest.raises(InstrecError, match="missing"):
        load_model(run)


def test_silence_after_the_music_changes_nothing(trained):
    """15 s of digital silence (with one click in it) after a clip: the same file probabilities, the silent
    steps shown as silent and 0."""
    data, run = trained
    dataset = OpenMIC(data)
    music = load_audio(dataset.audio_path(dataset.keys("test")[0]))[: 15600 + 9 * 15360].copy()  # 10 examples
    music[-240:] = 0  # the part the 11th example shares with the 10th (a 25 ms window minus the 10 ms hop)
    model = load_model(run)
    alone = model.predict(music, sample_rate=16000)
    for rule in ("max", "mean", "top3"):
        model.file_rule = rule
        alone = model.predict(music, sample_rate=16000)
        silence = np.zeros(16000 * 15, np.float32)
        silence[16000 * 7] = 0.9  # a single click in the silence
        padded = model.predict(np.concatenate([music, silence]), sample_rate=16000)
        np.testing.assert_allclose(padded.probs, alone.probs, atol=1e-6)
    steps = len(alone.activity)
    assert steps == 10 and (padded.extra["silent"][:steps] == alone.extra["silent"]).all()
    assert padded.extra["silent"][steps:].all() and (padded.activity[steps:] == 0).all()
    np.testing.assert_allclose(padded.activity[:steps], alone.activity, atol=1e-6)


def test_timeline_is_each_steps_own_probability(trained):
    """A step's timeline value is the mean of what the classifier gives each heard example centred in that 0.96 s
    step alone (examples placed from the first sound), in [0, 1]."""
    from instrec.predict import PHASE_SAMPLES

    data, run = trained
    dataset = OpenMIC(data)
    audio = load_audio(dataset.audio_path(dataset.keys("test")[1]))
    model = load_model(run)
    whole = model.predict(audio, sample_rate=16000)
    first = int(np.flatnonzero(np.abs(audio) >= 1e-4)[0])
    starts = first + PHASE_SAMPLES * np.arange((len(audio) - first - 15600) // PHASE_SAMPLES + 1)
    in_step_2 = [s for s in starts if (s + 7800) // 15360 == 2]
    assert len(in_step_2) >= 1
    alone = [model.predict(audio[s:s + 15600], sample_rate=16000).probs for s in in_step_2]
    np.testing.assert_allclose(whole.activity[2], np.mean(alone, axis=0), atol=1e-5)
    assert whole.activity.max() <= 1 and whole.activity.min() >= 0


def test_waveform_needs_a_sample_rate(trained):
    with pytest.raises(InstrecError, match="sample_rate"):
        load_model(trained[1]).predict(np.zeros(32000))
    with pytest.raises(AudioError, match="silent"):
        load_model(trained[1]).predict(np.zeros(32000), sample_rate=16000)


def test_hear_api():
    import instrec.hear as hear

    model = hear.load_model(representation="vggish-random", hop_frames=96)
    audio = torch.rand(3, 16000 * 3) - 0.5
    emb, timestamps = hear.get_timestamp_embeddings(audio, model)
    assert emb.shape == (3, 3, 128) and timestamps.shape == (3, 3)
    torch.testing.assert_close(timestamps[0], torch.tensor([480.0, 1440.0, 2400.0]))
    torch.testing.assert_close(hear.get_scene_embeddings(audio, model), emb.mean(dim=1))
    assert model.sample_rate == 16000 and model.scene_embedding_size == model.timestamp_embedding_size == 128
    fine = hear.load_model(representation="logmel", hop_frames=48)
    emb, timestamps = hear.get_timestamp_embeddings(audio, fine)
    assert emb.shape == (3, 5, 96 * 64) and float(timestamps[0, 1] - timestamps[0, 0]) == pytest.approx(480.0)


def test_hear_default_is_the_shipped_encoder_offline_every_50_ms(monkeypatch, tmp_path):
    """No argument, no download: the shipped model's encoder; an example every 50 ms; its embeddings are the
    ones the shipped classifier's head turns into predict's probabilities."""
    import instrec.hear as hear
    from instrec.predict import load_model as load_predict_model

    monkeypatch.setenv("INSTREC_CACHE", str(tmp_path / "empty-cache"))  # no AudioSet weights anywhere
    model = hear.load_model()
    assert model.sample_rate == 16000 and model.timestamp_embedding_size == model.scene_embedding_size == 512
    audio = torch.from_numpy(load_audio(Path(__file__).parent / "fixtures" / "held-out-bank" / "000010_7680.ogg"))
    emb, timestamps = hear.get_timestamp_embeddings(torch.stack([audio[:16000 * 3], audio[16000:16000 * 4]]), model)
    steps = (16000 * 3 - 15600) // 800 + 1  # a 50 ms hop is 800 samples
    assert emb.shape == (2, steps, 512) and timestamps.shape == (2, steps)
    assert float(timestamps[0, 1] - timestamps[0, 0]) == pytest.approx(50.0) and float(timestamps[0, 0]) == 480.0
    assert hear.get_scene_embeddings(audio[None, :8000], model).shape == (1, 512)  # shorter than an example: padded
    shipped = load_predict_model()
    clip = audio[16000:16000 + 15600]  # one example, loud at both ends: predict frames it the same way
    one = hear.get_timestamp_embeddings(clip[None], model)[0]
    with torch.inference_mode():
        head = shipped.classifier.head(one)["probs"][0].numpy()
    np.testing.assert_allclose(head,
                               shipped.predict(clip.numpy(), sample_rate=16000).probs, atol=1e-5)


def _library(root, count: int = 6):
    """A small library: copies of two real-dev recordings in two folders, and one empty file."""
    import shutil

    real_dev = Path(__file__).parent / "fixtures" / "real-dev"
    for folder, name in (("a", "tinysol__Fl-ord-C4-mf-N-T14d.wav"), ("b", "egfxset__6-22.wav")):
        (root / "lib" / folder).mkdir(parents=True)
        for i in range(count):
            shutil.copy(real_dev / name, root / "lib" / folder / f"{i}.wav")
    (root / "lib" / "b" / "empty.wav").write_bytes(b"")
    return root / "lib"


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_library_lines_resume_after_a_kill_with_no_duplicate_or_cut_line(tmp_path, capsys):
    import subprocess
    import sys
    import time

    lib = _library(tmp_path, count=20)
    out = tmp_path / "r.jsonl"
    process = subprocess.Popen([sys.executable, "-m", "instrec", "predict", str(lib), "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):  # kill it once some files are done
        if out.exists() and out.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    with open(out, "a") as f:
        f.write('{"file": "cut sho')  # as a kill mid-write would leave it
    assert main(["predict", str(lib), "--out", str(out)]) == 2  # never appended to without --resume
    assert "already there; pass --resume" in capsys.readouterr().err
    assert main(["predict", str(lib), "--out", str(out), "--resume"]) == 1  # (the empty file fails)
    summary = capsys.readouterr().out
    assert "40 files predicted" not in summary and "1 failed, of 41" in summary
    files = [r["file"] for r in _lines(out)]
    assert sorted(files) == sorted(str(p) for p in lib.rglob("*.wav") if p.stat().st_size) and len(set(files)) == 40
    assert main(["predict", str(lib), "--out", str(out), "--resume"]) == 1  # nothing left but the failure
    assert "0 files predicted, 40 done before, 1 failed" in capsys.readouterr().out and len(_lines(out)) == 40


def test_two_shards_cover_the_library_once_and_jobs_give_the_same_lines(tmp_path, capsys):
    lib = _library(tmp_path)
    parts = [tmp_path / f"part{k}.jsonl" for k in (1, 2)]
    assert main(["predict", str(lib), "--out", str(parts[0]), "--shard", "1/2"]) in (0, 1)
    assert main(["predict", str(lib), "--out", str(parts[1]), "--shard", "2/2", "--jobs", "2"]) in (0, 1)
    first, second = ({r["file"] for r in _lines(p)} for p in parts)
    every = {str(p) for p in lib.rglob("*.wav") if p.stat().st_size}
    assert first | second == every and not first & second and first and second
    whole = tmp_path / "whole.jsonl"
    assert main(["predict", str(lib), "--out", str(whole), "--jobs", "2"]) == 1
    by_file = {r["file"]: r for r in _lines(whole)}
    for part in parts:  # one process or two, in or out of a shard: the same record for a file
        for r in _lines(part):
            assert r["probabilities"] == by_file[r["file"]]["probabilities"]


def test_shards_do_not_depend_on_where_the_library_is_mounted(tmp_path):
    import shutil

    from instrec.audio import find_audio_files
    from instrec.library import Shard, relative_keys

    lib = _library(tmp_path)
    moved = shutil.copytree(lib, tmp_path / "elsewhere" / "music")
    for k in (1, 2, 3):
        shard = Shard(k, 3)
        here = [relative_keys(find_audio_files([lib]))[f] for f in find_audio_files([lib])]
        there = [relative_keys(find_audio_files([moved]))[f] for f in find_audio_files([moved])]
        assert [key for key in here if shard.takes(key)] == [key for key in there if shard.takes(key)]


def test_a_reader_that_stops_early_is_no_traceback():
    """`instrec predict ... | head -1`: the pipe closes under predict; it stops quietly."""
    import subprocess
    import sys

    ragtime = Path(__file__).parent / "fixtures" / "real-dev" / \
        "librosa__442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.ogg"
    command = f"{sys.executable} -m instrec predict {' '.join([str(ragtime)] * 12)} --format json | head -c 100"
    result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=300)  # > a pipe's buffer
    assert result.stdout.startswith('{"file"') and "Traceback" not in result.stderr, result.stderr


def test_the_floor_reports_the_first_class_only_where_nothing_reaches_the_threshold():
    from instrec.predict import Prediction, decide

    trained = np.array([True, True, False, True])
    probs = np.array([[0.10, 0.30, 0.05, 0.20],   # nothing at 0.4; first 0.30 >= floor 0.25: reported
                      [0.10, 0.20, 0.05, 0.15],   # first 0.20 < floor: nothing
                      [0.50, 0.30, 0.05, 0.45],   # two at the threshold: as they are, 0.30 not added
                      [0.10, 0.20, 0.90, 0.27]])  # the first learned class (the untrained 0.90 never counts)
    expected = np.array([[0, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 1], [0, 0, 0, 1]], bool)
    assert np.array_equal(decide(probs, 0.4, trained, 0.25), expected)
    assert np.array_equal(decide(probs, 0.4, trained), (probs >= 0.4) & trained)  # no floor: the threshold alone
    for row, want in zip(probs, expected):
        assert np.array_equal(decide(row, 0.4, trained, 0.25), want)
    timeline = np.zeros((3, 4))
    floored = Prediction("a.wav", ["a", "b", "c", "d"], probs[0], 0.4, timeline, trained=trained, floor=0.25)
    assert floored.instruments() == [("b", pytest.approx(0.30))] and floored.to_dict()["floor"] == 0.25
    plain = Prediction("a.wav", ["a", "b", "c", "d"], probs[0], 0.4, timeline, trained=trained)
    assert plain.instruments() == [] and "floor" not in plain.to_dict()
    # a gated model: the floor only where its gate heard one instrument alone (predict.FLOOR_GATE)
    heard = Prediction("a.wav", ["a", "b", "c", "d"], probs[0], 0.4, timeline, trained=trained, floor=0.25, alone=0.8)
    unsure = Prediction("a.wav", ["a", "b", "c", "d"], probs[0], 0.4, timeline, trained=trained, floor=0.25, alone=0.3)
    assert [c for c, _ in heard.instruments()] == ["b"] and unsure.instruments() == []
    assert unsure.to_dict()["alone"] == 0.3


def test_the_model_takes_its_floor_from_its_card_or_the_caller(tmp_path):
    from instrec.predict import SHIPPED

    card = json.loads((SHIPPED / "model.json").read_text())
    assert load_model().floor == card["floor"] is not None
    assert load_model(floor=0.3).floor == 0.3
    assert load_model(floor=1.0).floor is None  # at or above the threshold: never used
    old = tmp_path / "old"  # an export from before the floor: none
    old.mkdir()
    (old / "model.json").write_text(json.dumps({k: v for k, v in card.items() if k != "floor"}))
    (old / "model.safetensors").symlink_to(SHIPPED / "model.safetensors")
    assert load_model(old).floor is None


def test_scores_count_what_the_floor_reports_and_rank_as_before():
    from instrec.evaluation import score
    from instrec.predict import decide

    classes = ["a", "b", "c"]
    labels = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], np.float32)
    probs = np.array([[0.30, 0.10, 0.05], [0.10, 0.35, 0.20], [0.60, 0.05, 0.55], [0.20, 0.10, 0.05]], np.float32)
    mask = np.ones_like(labels, bool)
    plain = score(probs, labels, mask, classes, 0.4)
    floored = score(probs, labels, mask, classes, 0.4, decisions=decide(probs, 0.4, np.ones(3, bool), 0.25))
    assert floored["per_class"]["a"]["f1_macro"] > plain["per_class"]["a"]["f1_macro"]  # file 1 found
    assert floored["per_class"]["b"]["f1_macro"] > plain["per_class"]["b"]["f1_macro"]  # file 2 found
    assert floored["per_class"]["c"]["f1_macro"] == plain["per_class"]["c"]["f1_macro"]  # file 3 had a report
    assert all(floored["per_class"][c]["ap"] == plain["per_class"][c]["ap"] for c in classes)
    assert floored["top1"] == plain["top1"]
