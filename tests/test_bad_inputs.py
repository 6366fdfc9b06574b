"""Every bad input is one line, ``instrec: error: ...``, exit 2, and leaves no output behind.

Each case runs the real command line in-process against small files made here; none renders, trains or
downloads anything (the errors come before any work starts)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from instrec.cli import main

REAL_DEV = Path(__file__).parent / "fixtures" / "real-dev"
GOOD = "tinysol__Fl-ord-C4-mf-N-T14d.wav"


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A working folder with the files the cases point at; cwd is that folder."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(REAL_DEV / GOOD, "good.wav")
    Path("corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    Path("empty.flac").write_bytes(b"")
    Path("exists.txt").write_text("a file\n")
    sf.write("silent.wav", np.zeros(32000, np.float32), 16000)
    for name, content in {"empty": b"", "zip": b"PK\x03\x04 truncated", "text": b"hello\n" * 20}.items():
        Path(f"run-{name}").mkdir()
        Path(f"run-{name}/best.pt").write_bytes(content)
    Path("run-list").mkdir()
    torch.save([1, 2, 3], "run-list/best.pt")
    Path("exported").mkdir()
    Path("exported/model.json").write_text("{broken")
    Path("weights-only").mkdir()
    Path("weights-only/model.safetensors").write_bytes(b"\0" * 64)
    Path("audio").mkdir()
    shutil.copy(REAL_DEV / GOOD, "audio/a.wav")
    labels = {"unknown": "file,instruments\na.wav,piano;kazoo\n", "missing": "file,instruments\nb.wav,piano\n",
              "duplicate": "file,instruments\na.wav,piano\na.wav,flute\n", "header": "name,what\na.wav,piano\n",
              "empty": "file,instruments\n"}
    for name, text in labels.items():
        Path(f"labels-{name}.csv").write_text(text)
    profiles = {"malformed": "[train\nepochs = 3\n", "unknown-key": "[train]\nepohcs = 3\n",
                "unknown-table": "[trian]\nepochs = 3\n", "wrong-type": "[train]\nepochs = \"many\"\n",
                "zero-epochs": "[train]\nepochs = 0\n", "bad-lr": "[train]\nlr = -0.1\n",
                "zero-size": "[data]\nopenmic_size = 0\n", "bad-variant": "[train]\nvariant = \"big\"\n",
                "bad-pretrain": "[pretrain]\nmax_epochs = 0\n", "scalar-table": "data = 3\n"}
    for name, text in profiles.items():
        Path(f"{name}.toml").write_text(text)
    Path("not-a-dataset").mkdir()
    return tmp_path


CASES = [
    # features
    (["features", "missing.wav", "--out", "o.npy"], "missing.wav"),
    (["features", "corrupt.wav", "--out", "o.npy"], "corrupt.wav"),
    (["features", "empty.flac", "--out", "o.npy"], "empty.flac"),
    (["features", "good.wav", "--representation", "bogus", "--out", "o.npy"], "bogus"),
    (["features", "good.wav", "--hop-frames", "0", "--out", "o.npy"], "--hop-frames: 0 must be at least 1"),
    (["features", "good.wav", "--hop-frames", "x", "--out", "o.npy"], "not a whole number"),
    (["features", "good.wav", "--postprocess", "norm", "--out", "o.npy"], "--stats"),
    (["features", "good.wav", "--seed", "-1", "--out", "o.npy"], "--seed: -1 must be at least 0"),
    (["features", "good.wav", "--postprocess", "zip", "--out", "o.npy"], "invalid choice"),
    # predict
    (["predict", "--threshold", "2", "good.wav"], "--threshold: 2 must be between"),
    (["predict", "--threshold", "-0.1", "good.wav"], "must be between"),
    (["predict", "--threshold", "nan", "good.wav"], "not a finite number"),
    (["predict", "--threshold", "high", "good.wav"], "not a number"),
    (["predict", "--format", "xml", "good.wav"], "invalid choice"),
    (["predict", "--plot", "exists.txt", "good.wav"], "exists.txt is an existing file"),
    (["predict", "--model", "no-such-run", "good.wav"], "no-such-run: no such file or folder"),
    (["predict", "--model", "run-empty", "good.wav"], "best.pt: not an instrec model bundle"),
    (["predict", "--model", "run-zip", "good.wav"], "best.pt: not an instrec model bundle"),
    (["predict", "--model", "run-text", "good.wav"], "best.pt: not an instrec model bundle"),
    (["predict", "--model", "run-list", "good.wav"], "best.pt: not an instrec model bundle"),
    (["predict", "--model", "exported", "good.wav"], "model.json: not a readable model description"),
    (["predict", "not-a-dataset"], "no audio files found"),
    (["predict", "-take1.wav"], "goes after --"),
    # extract
    (["extract", "--dataset", "missing-dir", "--representation", "logmel"], "missing-dir"),
    (["extract", "--dataset", "not-a-dataset", "--representation", "logmel"], "not-a-dataset"),
    (["extract", "--dataset", "not-a-dataset", "--representation", "logmel", "--batch-clips", "-3"],
     "--batch-clips: -3 must be at least 1"),
    (["extract", "--dataset", "not-a-dataset", "--representation", "logmel", "--batch-clips", "0"], "at least 1"),
    (["extract", "--dataset", "not-a-dataset", "--representation", "bogus"], "bogus"),
    (["extract", "--dataset", "not-a-dataset", "--representation", "logmel", "--seed", "-2"], "at least 0"),
    # train
    (["train", "--dataset", "not-a-dataset", "--representation", "logmel", "--set", "epochs=0"], "epochs=0 must be at least 1"),
    (["train", "--dataset", "not-a-dataset", "--representation", "logmel", "--set", "lr=-1"], "lr=-1.0 must be positive"),
    (["train", "--dataset", "not-a-dataset", "--representation", "logmel", "--set", "batch_size=abc"], "expected a int"),
    (["train", "--dataset", "not-a-dataset", "--representation", "logmel", "--set", "epochz=3"], "unknown setting 'epochz'"),
    (["train", "--dataset", "not-a-dataset", "--representation", "logmel", "--set", "variant=big"], "variant='big'"),
    (["train", "--dataset", "not-a-dataset", "--representation", "logmel", "--set", "threshold=1.5"], "between 0 and 1"),
    (["train", "--dataset", "not-a-dataset", "--representation", "logmel", "--set", "epochs"], "expected key=value"),
    (["train", "--dataset", "not-a-dataset", "--representation", "logmel", "--set", "groups=7"], "must divide hidden"),
    (["train", "--dataset", "missing-dir", "--representation", "logmel"], "missing-dir"),
    (["train", "--dataset", "not-a-dataset", "--representation", "logmel", "--out", "exists.txt"], "existing file"),
    # evaluate, evaluate-audio
    (["evaluate", "no-such-run"], "no-such-run: no such file or folder, so no trained model"),
    (["predict", "good.wav", "--model", "weights-only"], "weights-only/model.json: missing"),
    (["evaluate", "run-zip"], "best.pt: not an instrec model bundle"),
    (["evaluate-audio", "--audio", "missing-dir", "--model", "run-zip"], "missing-dir: not a folder"),
    (["evaluate-audio", "--audio", "good.wav"], "good.wav: not a folder"),
    (["evaluate-audio", "--audio", "audio", "--labels", "labels-unknown.csv"], "unknown instrument 'kazoo'"),
    (["evaluate-audio", "--audio", "audio", "--labels", "labels-missing.csv"], "b.wav not found"),
    (["evaluate-audio", "--audio", "audio", "--labels", "labels-duplicate.csv"], "listed twice"),
    (["evaluate-audio", "--audio", "audio", "--labels", "labels-header.csv"], "file,instruments"),
    (["evaluate-audio", "--audio", "audio", "--labels", "labels-empty.csv"], "no rows"),
    (["evaluate-audio", "--audio", "audio"], "labels.csv: labels file not found"),
    (["evaluate-audio", "--audio", "audio", "--labels", "labels-unknown.csv", "--out", "exists.txt"], "existing file"),
    # data synth
    (["data", "synth", "--kind", "openmic", "--size", "-5", "--out", "d"], "--size: -5 must be at least 1"),
    (["data", "synth", "--kind", "openmic", "--size", "0", "--out", "d"], "--size: 0 must be at least 1"),
    (["data", "synth", "--kind", "openmic", "--workers", "0", "--out", "d"], "--workers: 0 must be at least 1"),
    (["data", "synth", "--kind", "openmic", "--seed", "-1", "--out", "d"], "at least 0"),
    (["data", "synth", "--kind", "opera", "--out", "d"], "invalid choice"),
    (["data", "synth", "--kind", "openmic", "--arrangement", "choir", "--out", "d"], "invalid choice"),
    (["data", "synth", "--kind", "openmic", "--labels", "some", "--out", "d"], "invalid choice"),
    (["data", "synth", "--kind", "openmic", "--out", "exists.txt"], "existing file"),
    (["data", "synth", "--kind", "openmic", "--bank", "nosuchbank", "--out", "d"], "nosuchbank"),
    (["data", "synth", "--kind", "openmic", "--soundfont", "missing.sf2", "--out", "d"], "missing.sf2"),
    (["data", "synth", "--kind", "openmic", "--soundfont", "exists.txt", "--out", "d"], "exists.txt"),
    (["data", "synth", "--kind", "openmic", "--hold-out-bank", "nosuchbank", "--out", "d"], "nosuchbank"),
    # recordings, train-real, train-default's real stage
    (["recordings", "fetch", "theremin"], "recordings 'theremin': matches no library"),
    (["recordings", "fetch", "--from", "missing-dir"], "missing-dir: not a folder"),
    (["recordings", "list", "theremin"], "matches no library"),
    (["train-real", "--dataset", "d", "--real-clips", "0"], "--real-clips: 0 must be at least 1"),
    (["train-real", "--dataset", "d", "--negative-clips", "-1"], "at least 0"),
    (["train-real", "--dataset", "d", "--hold-out-fold", "Z"], "invalid choice"),
    (["train-real", "--dataset", "d", "--threshold", "1.5"], "--threshold 1.5: must lie between 0 and 1"),
    (["train-real", "--dataset", "d", "--recordings", "missing-dir"], "no real recordings there"),
    (["train-default", "--hold-out-fold", "Z", "--out", "d"], "hold-out fold 'Z': use one of A, B, C"),
    (["train-default", "--base", "e5", "--out", "d"], "invalid choice"),
    # weights
    (["weights", "download"], "invalid choice"),
    (["weights", "fetch", "--base-url", "not-a-url"], "not an http(s):// or file:// URL"),
    (["weights", "fetch", "--base-url", "ftp://host/x"], "not an http(s):// or file:// URL"),
    # study
    (["study", "--seeds", "-1"], "--seeds: -1 must be at least 1"),
    (["study", "--seeds", "0"], "at least 1"),
    (["study", "--profile", "missing.toml"], "missing.toml: profile not found"),
    (["study", "--profile", "bogus"], "unknown profile 'bogus'"),
    (["study", "--profile", "malformed.toml"], "not valid TOML"),
    (["study", "--profile", "unknown-key.toml"], "unknown key 'epohcs' in [train]"),
    (["study", "--profile", "unknown-table.toml"], "unknown table [trian]"),
    (["study", "--profile", "wrong-type.toml"], "epochs = 'many' must be a int"),
    (["study", "--profile", "zero-epochs.toml"], "epochs=0 must be at least 1"),
    (["study", "--profile", "bad-lr.toml"], "lr=-0.1 must be positive"),
    (["study", "--profile", "zero-size.toml"], "openmic_size = 0 must be at least 1"),
    (["study", "--profile", "bad-variant.toml"], "variant='big'"),
    (["study", "--profile", "bad-pretrain.toml"], "[pretrain] max_epochs=0"),
    (["study", "--profile", "scalar-table.toml"], "data must be a table"),
    (["study", "--out", "exists.txt"], "existing file"),
    (["study", "--openmic", "missing-dir", "--out", "s"], "missing-dir"),
    (["study", "--openmic", "not-a-dataset", "--out", "s"], "not-a-dataset"),
    # holdout, train-default, pretrain
    (["holdout", "--epochs", "abc"], "not a whole number"),
    (["holdout", "--size", "0"], "at least 1"),
    (["train-default", "--size", "0"], "at least 1"),
    (["train-default", "--epochs", "-2"], "at least 1"),
    (["train-default", "--epochs", "5", "--out", "td"], "member 'swa_epochs=10': swa_epochs=10: at most the 5 epochs"),
    (["train-default", "--bank", "nosuch", "--out", "td"], "unknown SoundFont bank 'nosuch'"),
    (["train-default", "--member", "", "--member", "widht=32", "--out", "td"], "member 'widht=32': widht=32: unknown setting 'widht'"),
    (["pretrain", "--objective", "guess", "--dataset", "not-a-dataset"], "invalid choice"),
    (["pretrain", "--objective", "align", "--dataset", "not-a-dataset", "--set", "max_epochs=0"], "max_epochs=0"),
]


@pytest.mark.parametrize("argv,message", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_is_one_line_and_exit_2(place, capsys, argv, message):
    before = {p.relative_to(place) for p in place.rglob("*")}
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("instrec: error: ") and message in err[0], err[0]
    after = {p.relative_to(place) for p in place.rglob("*")}
    assert after == before, f"left behind: {sorted(map(str, after - before))}"  # nothing half-written


def test_enough_cases_per_command():
    commands = {}
    for argv, _ in CASES:
        commands[argv[0]] = commands.get(argv[0], 0) + 1
    assert len(CASES) >= 60
    assert all(commands.get(c, 0) >= 3 for c in ("features", "predict", "extract", "train", "evaluate-audio", "data",
                                                  "weights", "study"))


def test_results_json_malformed_is_one_line(place, capsys):
    Path("study").mkdir()
    Path("study/results.json").write_text("{partial")
    assert main(["predict", "--model", "study", "good.wav"]) == 2
    assert "results.json" in capsys.readouterr().err
    Path("study/results.json").write_text(json.dumps({"rows": "nope"}))
    assert main(["predict", "--model", "study", "good.wav"]) == 2
    assert "results.json" in capsys.readouterr().err


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")])
def test_truncated_files_are_reported_not_silently_shortened(tmp_path, capsys, fmt, subtype):
    import io

    from instrec.audio import TruncatedAudioWarning, load_audio

    signal = (0.1 * np.random.default_rng(0).standard_normal(16000 * 3)).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, signal, 16000, format=fmt, subtype=subtype)
    whole, cut = tmp_path / f"whole.{fmt.lower()}", tmp_path / f"cut.{fmt.lower()}"
    whole.write_bytes(buffer.getvalue())
    cut.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.warns(TruncatedAudioWarning, match="cut.*truncated"):
        load_audio(cut)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncatedAudioWarning)
        load_audio(whole)  # a complete file: no warning
    assert main(["features", str(cut), "--out", str(tmp_path / "f.npy")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert any(line.startswith("instrec: warning: ") and "cut." in line and "truncated" in line for line in err)


def test_exactly_0_96_s_is_one_example_not_a_short_file(tmp_path, capsys):
    from instrec.predict import examples_in_chunks

    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(15360) / 16000).astype(np.float32)  # exactly 0.96 s
    notes = {}
    examples = list(examples_in_chunks(iter([tone]), notes=notes))
    assert sum(len(e) for e in examples) == 1 and "padded_from_seconds" not in notes
    notes = {}
    list(examples_in_chunks(iter([tone[:15000]]), notes=notes))
    assert notes["padded_from_seconds"] == pytest.approx(15000 / 16000)


@pytest.mark.parametrize("length", [15600 + 2 * 15360 + 80, 15600 + 2 * 15360 + 400, 40000])
def test_which_examples_are_quiet_does_not_depend_on_how_the_stream_is_cut(length):
    """A DC offset with one 0.5 s tone in it: the tone's examples sound, the others are quiet, whatever the block
    and chunk sizes (including a file that ends within the quiet test's edge of a chunk boundary)."""
    from instrec.predict import examples_in_chunks

    signal = np.full(length, 0.2, np.float32)
    signal[16000:24000] += 0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000).astype(np.float32)
    seen = []
    for block, chunk in [(length, 64), (1000, 3), (7919, 1)]:
        notes = {}
        list(examples_in_chunks(iter(np.split(signal, np.arange(block, length, block))), chunk, notes))
        seen.append(notes["quiet"])
    assert seen[0] == seen[1] == seen[2]
    assert seen[0] == [True, False] + [True] * (len(seen[0]) - 2)


def _break_openmic(root: Path, how: str) -> None:
    labels = root / "openmic-2018-aggregated-labels.csv"
    text = labels.read_text().splitlines()
    if how == "relevance":
        text[1] = text[1].replace(",clarinet,0.17104999999999998,", ",clarinet,1.5,")
    elif how == "relevance-text":
        text[1] = text[1].replace(",clarinet,0.17104999999999998,", ",clarinet,high,")
    elif how == "instrument":
        text[1] = text[1].replace(",clarinet,", ",kazoo,")
    elif how == "columns":
        text[0] = "key,instrument,relevance,num_responses"
    elif how == "class-map":
        (root / "class-map.json").write_text("[not a map")
    elif how in ("npz-classes", "npz-corrupt", "npz-missing"):
        path = root / "openmic-2018.npz"
        if how == "npz-corrupt":
            path.write_bytes(b"PK\x03\x04 not really")
        else:
            arrays = {"sample_key": np.array(["000046_3840"]), "Y_true": np.zeros((1, 19), np.float32),
                      "Y_mask": np.ones((1, 19), bool)}
            arrays.pop("Y_mask") if how == "npz-missing" else None
            np.savez(path, **arrays)
    labels.write_text("\n".join(text) + "\n")


@pytest.mark.parametrize("how,message", [
    ("relevance", "relevance '1.5' must be a number in [0, 1]"), ("relevance-text", "relevance 'high'"),
    ("instrument", "unknown instrument 'kazoo'"), ("columns", "sample_key, instrument, relevance"),
    ("class-map", "class-map.json: not a class map"), ("npz-classes", "must both be (1, 20)"),
    ("npz-corrupt", "not a readable npz"), ("npz-missing", "lacks the array Y_mask"),
])
def test_broken_openmic_folder_is_one_line(tmp_path, capsys, how, message):
    root = tmp_path / "openmic"
    shutil.copytree(Path(__file__).parent / "fixtures" / "openmic-2018", root)
    _break_openmic(root, how)
    assert main(["train", "--dataset", str(root), "--representation", "logmel", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "run").exists()


def test_written_files_follow_the_umask(tmp_path):
    import os

    from instrec.io import atomic_write_text

    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "b.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o644
