"""Every bad input is one line, ``instrec: error: ...``, exit 2, and leaves no output behind.

Each case runs the real command line in-process against small files made here; none renders, trains or
downloads anything (the errors come before any work starts)."""

import json
import os
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
    extra = {"extra-field": "file,instruments\na.wav,flute,piano\n", "parent": "file,instruments\n../good.wav,flute\n",
             "absolute": "file,instruments\n/tmp/a.wav,flute\n", "bom": "\ufefffile,instruments\na.wav,flute;piano\n"}
    for name, text in extra.items():
        Path(f"labels-{name}.csv").write_text(text, encoding="utf-8")
    Path("labels-latin1.csv").write_bytes("file,instruments\na.wav,fl\u00fbte\n".encode("latin-1"))
    Path("plots").mkdir()
    Path("plots/good.png").write_bytes(b"a picture made before")
    Path("stats-junk.npz").write_text("junk\n")
    Path("done-study").mkdir()
    Path("done-study/results.json").write_text("{}")
    return tmp_path


SHIPPED = Path(__file__).parent.parent / "src" / "instrec" / "models" / "default"
OPENMIC_FIXTURE = Path(__file__).parent / "fixtures" / "openmic-2018"


def _model_with(**fields):
    """A copy of the shipped model folder whose model.json has ``fields`` changed (the weights linked, not copied)."""
    def make(name: str) -> None:
        Path(name).mkdir()
        card = json.loads((SHIPPED / "model.json").read_text())
        for key, value in fields.items():
            if value is None:
                card.pop(key, None)
            else:
                card[key] = value
        Path(name, "model.json").write_text(json.dumps(card))
        Path(name, "model.safetensors").symlink_to(SHIPPED / "model.safetensors")
    return make


def _openmic(audio: str):
    """The one-clip OpenMIC fixture (no validation clip), with its audio as it is, empty or gone."""
    def make(name: str) -> None:
        shutil.copytree(OPENMIC_FIXTURE, name)
        for clip in Path(name, "audio").rglob("*.ogg"):
            if audio == "empty":
                clip.write_bytes(b"")
            elif audio == "gone":
                clip.unlink()
    return make


def _npz(**arrays):
    def make(name: str) -> None:
        np.savez(name, **arrays)
    return make


SETUPS = {
    "model-threshold-2": _model_with(threshold=2), "model-threshold-abc": _model_with(threshold="abc"),
    "model-threshold-true": _model_with(threshold=True), "model-floor-abc": _model_with(floor="abc"),
    "model-classes-5": _model_with(classes=["accordion", "banjo", "bass", "cello", "clarinet"], trained_classes=None),
    "model-classes-dup": _model_with(classes=["piano"] * 20),
    "model-trained-1": _model_with(trained_classes=[True]),
    "model-trained-str": _model_with(trained_classes=["yes"] * 20),
    "model-weights-path": _model_with(representation={"key": "logmel", "name": "logmel",
                                                      "weights": "../../../../etc/passwd"}),
    "model-vggish": _model_with(representation={"key": "vggish-audioset", "name": "vggish-audioset"}),
    "model-file-rule": _model_with(file_rule="median"), "model-input-level": _model_with(input_level="loud"),
    "model-sha": _model_with(sha256="abc"), "model-args": _model_with(model_args=[1, 2]),
    "openmic-one": _openmic("as-is"), "openmic-empty": _openmic("empty"), "openmic-gone": _openmic("gone"),
    "stats-other.npz": _npz(a=np.zeros(3)), "stats-dims.npz": _npz(minimum=np.zeros(64), maximum=np.ones(64)),
}


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
    (["train-default", "--recorded-notes", "fluidr3", "--out", "d"],
     "recorded notes 'fluidr3': not a sample set of the pool (use one of: tonejs, or '' for none)"),
    (["train-default", "--recorded-notes", "tonejs", "--bank", "fluidr3", "--out", "d"], "add --bank tonejs"),
    (["train-real", "--dataset", "d", "--recorded-notes", "bogus"], "recorded notes 'bogus': not a sample set"),
    (["train-default", "--probe", "sometimes", "--out", "d"], "invalid choice"),
    (["train-default", "--no-real-stage", "--probe", "gated", "--out", "d"],
     "the probe is fitted after the real stage: drop --no-real-stage, or use --probe none"),
    (["train-default", "--probe-copies", "louder", "--out", "d"], "invalid choice"),
    (["train-default", "--probe", "none", "--probe-copies", "pitched", "--out", "d"],
     "copies are learned by the probe: drop --probe-copies, or keep the probe (--probe gated)"),
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
    (["train-default", "--probe-features", "cells", "--out", "td"], "--probe-features: invalid choice: 'cells'"),
    (["train-default", "--member", "", "--member", "widht=32", "--out", "td"], "member 'widht=32': widht=32: unknown setting 'widht'"),
    (["pretrain", "--objective", "guess", "--dataset", "not-a-dataset"], "invalid choice"),
    (["pretrain", "--objective", "align", "--dataset", "not-a-dataset", "--set", "max_epochs=0"], "max_epochs=0"),
    # labels files, read strictly
    (["evaluate-audio", "--audio", "audio", "--labels", "labels-extra-field.csv"], "3 fields where the header has 2"),
    (["evaluate-audio", "--audio", "audio", "--labels", "labels-latin1.csv"], "labels-latin1.csv:2: not UTF-8 text"),
    (["evaluate-audio", "--audio", "audio", "--labels", "labels-parent.csv"], "../good.wav lies outside --audio"),
    (["evaluate-audio", "--audio", "audio", "--labels", "labels-absolute.csv"], "/tmp/a.wav lies outside --audio"),
    (["evaluate-audio", "--audio", "audio", "--labels", "audio"], "audio: is a folder; give the labels CSV"),
    (["evaluate-audio", "--audio", "audio", "--labels", "labels-bom.csv", "--model", "run-zip"], "not an instrec model"),
    # model.json against its schema
    (["predict", "good.wav", "--model", "model-threshold-2"], "field 'threshold' is 2; it must be a number from 0 to 1"),
    (["predict", "good.wav", "--model", "model-threshold-abc"], "field 'threshold' is 'abc'"),
    (["predict", "good.wav", "--model", "model-threshold-true"], "field 'threshold' is True"),
    (["predict", "good.wav", "--model", "model-floor-abc"], "field 'floor' is 'abc'; it must be a number from 0 to 1"),
    (["predict", "--floor", "2", "good.wav"], "--floor: 2 must be between"),
    (["evaluate-audio", "--audio", "audio", "--floor", "low"], "not a number"),
    (["predict", "good.wav", "--model", "model-classes-5"], "field 'classes' names 5 classes where the weights have 20"),
    (["predict", "good.wav", "--model", "model-classes-dup"], "field 'classes' must be a list of distinct"),
    (["predict", "good.wav", "--model", "model-trained-1"], "field 'trained_classes' must be 20 true/false values"),
    (["predict", "good.wav", "--model", "model-trained-str"], "field 'trained_classes'"),
    (["predict", "good.wav", "--model", "model-weights-path"], "field 'representation.weights' names a file"),
    (["predict", "good.wav", "--model", "model-vggish"], "field 'representation' must be the log-mel front end"),
    (["predict", "good.wav", "--model", "model-file-rule"], "field 'file_rule' is 'median'"),
    (["predict", "good.wav", "--model", "model-input-level"], "field 'input_level' is 'loud'"),
    (["predict", "good.wav", "--model", "model-sha"], "field 'sha256'"),
    (["predict", "good.wav", "--model", "model-args"], "field 'model_args'"),
    (["evaluate-audio", "--audio", "audio", "--labels", "labels-bom.csv", "--model", "model-threshold-2"],
     "field 'threshold'"),
    # outputs that would be overwritten or cannot be written
    (["predict", "good.wav", "--plot", "plots"], "plots/good.png: already there"),
    (["predict", "good.wav", "--plot", "exists.txt/sub"], "exists.txt/sub: cannot write timeline pictures there"),
    (["features", "good.wav", "--out", "audio"], "--out audio: is a folder"),
    # features statistics
    (["features", "good.wav", "--representation", "vggish-random", "--postprocess", "norm", "--stats",
      "stats-junk.npz", "--out", "o.npy"], "stats-junk.npz: not the norm_stats.npz of a features store"),
    (["features", "good.wav", "--representation", "vggish-random", "--postprocess", "norm", "--stats",
      "stats-other.npz", "--out", "o.npy"], "not the norm_stats.npz"),
    (["features", "good.wav", "--representation", "vggish-random", "--postprocess", "norm", "--stats",
      "stats-dims.npz", "--out", "o.npy"], "statistics of 64 dimensions, but vggish-random-s0 gives 128"),
    (["features", "good.wav", "--representation", "vggish-random", "--postprocess", "norm", "--stats",
      "missing.npz", "--out", "o.npy"], "--stats missing.npz: no such file"),
    # soundfonts
    (["soundfonts", "list", "bogus"], "unknown SoundFont bank 'bogus'"),
    (["soundfonts", "path", "bogus"], "unknown SoundFont bank 'bogus'"),
    (["soundfonts", "fetch", "bogus"], "unknown SoundFont bank 'bogus'"),
    # empty or tiny splits, checked before any work
    (["train", "--dataset", "openmic-one", "--representation", "logmel", "--out", "r"],
     "the validation split has 0 usable clips of 1 (the others have no audio file)"),
    (["train", "--dataset", "openmic-gone", "--representation", "logmel", "--out", "r"],
     "the train split has 0 usable clips of"),
    (["holdout", "--size", "4", "--epochs", "1"], "--size 4: gives 0 validation clips"),
    (["train-default", "--size", "4", "--out", "td"], "use --size 5 or more"),
    # every option that can be checked, before the first minute of work
    (["train-default", "--device", "bogus", "--out", "td"], "--device 'bogus': not a device"),
    (["train", "--dataset", "openmic-one", "--representation", "logmel", "--set", "device=bogus"], "not a device"),
    (["holdout", "--bank", "bogus"], "--bank bogus: not in the pool"),
    (["holdout", "--real", "missing-dir"], "--real missing-dir: not a folder"),
    (["holdout", "--real", "audio", "--real-labels", "labels-unknown.csv"], "unknown instrument 'kazoo'"),
    (["holdout", "--representation", "bogus", "--out", "h"], "unknown representation 'bogus'"),
    (["holdout", "--reference", "missing-dir", "--out", "h"], "missing-dir"),
    # a library at a time
    (["predict", "good.wav", "--out", "r.jsonl", "--shard", "3/2"], "--shard 3/2: K must be from 1 to N"),
    (["predict", "good.wav", "--out", "r.jsonl", "--shard", "half"], "--shard half: give K/N"),
    (["predict", "good.wav", "--out", "r.jsonl", "--jobs", "0"], "--jobs: 0 must be at least 1"),
    (["predict", "good.wav", "--resume"], "work on a library written to --out FILE.jsonl"),
    (["predict", "good.wav", "--shard", "1/2"], "add --out"),
    (["predict", "good.wav", "--out", "exists.txt"], "--out exists.txt: already there; pass --resume"),
    (["predict", "good.wav", "--out", "audio", "--resume"], "--out audio: is a folder"),
    # the study on real recordings
    (["study", "--real", "missing-dir", "--out", "s"], "--real missing-dir: not a folder"),
    (["study", "--real", "audio", "--labels", "labels-unknown.csv", "--out", "s"], "unknown instrument 'kazoo'"),
    (["study", "--real", "audio", "--out", "s"], "audio/labels.csv: labels file not found"),
    # your own labels
    (["train-audio", "--audio", "missing-dir", "--out", "m"], "--audio missing-dir: not a folder"),
    (["train-audio", "--audio", "audio", "--labels", "labels-latin1.csv", "--out", "m"], "not UTF-8 text"),
    (["train-audio", "--audio", "audio", "--labels", "labels-extra-field.csv", "--out", "m"], "3 fields where"),
    (["train-audio", "--audio", "audio", "--labels", "labels-unknown.csv", "--out", "m"],
     "1 files; cross-validation needs at least 2"),
    (["train-audio", "--audio", "audio", "--out", "not-a-dataset/../audio"], "not empty"),
    (["train-audio", "--audio", "audio", "--mode", "huge", "--out", "m"], "invalid choice"),
    # timelines out
    (["predict", "good.wav", "--format", "audacity"], "--format audacity writes one file per input: add --timelines"),
    (["predict", "good.wav", "--format", "jams"], "add --timelines DIR"),
    (["predict", "good.wav", "--format", "jams", "--timelines", "exists.txt"], "exists.txt is an existing file"),
    (["predict", "good.wav", "--format", "audacity", "--timelines", "exists.txt/sub"], "cannot write audacity timelines"),
    # folders that are something else
    (["evaluate", "model-threshold-2"], "an exported model keeps no features or test split"),
    (["evaluate", "done-study"], "a study folder"),
]


@pytest.mark.parametrize("argv,message", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_is_one_line_and_exit_2(place, capsys, argv, message):
    for arg in argv:
        if arg in SETUPS:
            SETUPS[arg](arg)
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
    assert len(CASES) >= 140
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
    # one segment (a DC offset is not silence): the examples overlapping the tone sound, the others are quiet
    from instrec.predict import PHASE_SAMPLES

    overlaps = [s < 24000 and s + 15600 > 16000 for s in PHASE_SAMPLES * np.arange(len(seen[0]))]
    assert seen[0] == [not o for o in overlaps] and sum(overlaps) >= 1


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


def _holder(folder: Path, ready: Path):
    """Another process that holds ``folder`` for writing until it is killed."""
    import subprocess
    import sys

    code = ("import sys, time; from pathlib import Path; from instrec.io import one_writer\n"
            "with one_writer(sys.argv[1], 'features store'):\n"
            "    Path(sys.argv[2]).write_text('held'); time.sleep(600)\n")
    process = subprocess.Popen([sys.executable, "-c", code, str(folder), str(ready)])
    import time

    for _ in range(300):
        if ready.exists():
            return process
        time.sleep(0.05)
    process.kill()
    raise AssertionError("the holder never took the lock")


def test_a_second_writer_is_one_line_naming_the_holder_and_a_killed_one_is_taken_over(tmp_path):
    import signal

    from instrec.errors import InstrecError
    from instrec.io import LOCK_NAME, one_writer

    folder = tmp_path / "store"
    holder = _holder(folder, tmp_path / "ready")
    try:
        with pytest.raises(InstrecError, match=rf"store: this features store is being written by process {holder.pid}"):
            with one_writer(folder, "features store"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (folder / LOCK_NAME).exists()  # a killed writer leaves its lock file...
    with one_writer(folder, "features store"):  # ...which the next writer takes over
        with one_writer(folder, "features store"):  # re-entrant within a process
            pass
    assert not (folder / LOCK_NAME).exists()  # and removes when done


def test_two_extracts_into_one_dataset_the_second_is_one_line_and_leaves_nothing(tmp_path, capsys):
    import signal

    from instrec.datasets.openmic import OpenMIC
    from instrec.extract import store_dir
    from instrec.representations.registry import build_representation

    data = tmp_path / "openmic"
    shutil.copytree(OPENMIC_FIXTURE, data)
    store = store_dir(OpenMIC(data), build_representation("logmel"))
    holder = _holder(store, tmp_path / "ready")
    try:
        assert main(["extract", "--dataset", str(data), "--representation", "logmel"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"being written by process {holder.pid}" in err[0], err
        assert sorted(p.name for p in store.iterdir()) == [".instrec-writer.lock"]  # no progress file, no partial
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert main(["extract", "--dataset", str(data), "--representation", "logmel"]) in (0, 1)  # (clips without audio)
    assert (store / "meta.json").exists() and not list(store.glob("*.progress.json")) and not list(store.glob("*.partial"))


def test_every_clip_empty_is_one_line_naming_the_split(tmp_path, capsys):
    data = tmp_path / "openmic"
    shutil.copytree(OPENMIC_FIXTURE, data)
    for clip in (data / "audio").rglob("*.ogg"):
        clip.write_bytes(b"")
    assert main(["train", "--dataset", str(data), "--representation", "logmel", "--out", str(tmp_path / "r")]) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("instrec: error")]
    assert len(err) == 1 and "split has 0 usable clips" in err[0], err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("make,message", [
    (lambda p: os.mkfifo(p), "not a regular file (a pipe, device or socket)"),
    (lambda p: p.symlink_to("/dev/zero"), "not a regular file"),
])
def test_pipes_and_devices_are_named_as_such(tmp_path, capsys, make, message):
    path = tmp_path / "x.wav"
    make(path)
    assert main(["predict", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"skipped {path}: {message}" in err


def test_unreadable_file_says_permission_denied(tmp_path, capsys, monkeypatch):
    import instrec.audio

    path = tmp_path / "locked.wav"
    shutil.copy(REAL_DEV / GOOD, path)
    monkeypatch.setattr(instrec.audio.os, "access", lambda p, mode: False)  # (tests may run as root)
    assert main(["predict", str(path)]) == 1
    assert f"skipped {path}: permission denied; make the file readable" in capsys.readouterr().err


def test_an_unwritable_plot_folder_is_one_line(tmp_path, capsys, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    shutil.copy(REAL_DEV / GOOD, tmp_path / "a.wav")
    assert main(["predict", str(tmp_path / "a.wav"), "--plot", str(tmp_path / "plots")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"instrec: error: {tmp_path / 'plots'}: cannot write timeline pictures there (Permission denied); "
                   "choose a folder you can write to"]


def test_plots_of_files_with_one_name_in_two_folders_never_collide(tmp_path, capsys):
    for album in ("album1", "album2"):
        (tmp_path / album).mkdir()
        shutil.copy(REAL_DEV / GOOD, tmp_path / album / "01.wav")
    shutil.copy(REAL_DEV / GOOD, tmp_path / "album1" / "01.flac.wav")
    sf.write(tmp_path / "album1" / "01.flac", sf.read(REAL_DEV / GOOD)[0], 44100)
    plots = tmp_path / "plots"
    assert main(["predict", str(tmp_path / "album1"), str(tmp_path / "album2"), "--plot", str(plots)]) == 0
    made = sorted(str(p.relative_to(plots)) for p in plots.rglob("*.png"))
    assert made == ["album1/01.flac.png", "album1/01.flac.wav.png", "album1/01.wav.png", "album2/01.wav.png"]
    before = {p: p.read_bytes() for p in plots.rglob("*.png")}
    for p in before:
        p.write_bytes(b"kept")
    again = [str(tmp_path / "album1"), str(tmp_path / "album2"), "--plot", str(plots)]
    assert main(["predict", *again]) == 2  # would overwrite: refused, nothing touched
    assert "album1/01.flac.png: already there (4 of the 4 timeline pictures); pass --overwrite" in capsys.readouterr().err
    assert all(p.read_bytes() == b"kept" for p in before)
    assert main(["predict", *again, "--overwrite"]) == 0
    assert all(p.read_bytes() == picture for p, picture in before.items())
    assert main(["predict", str(tmp_path / "album2"), "--plot", str(plots)]) == 0
    assert (plots / "01.png").exists()  # one folder given: named below that folder


def test_soundfonts_path_of_a_known_bank(capsys):
    code = main(["soundfonts", "path", "timgm6mb"])
    out = capsys.readouterr().out
    assert out.startswith("timgm6mb: ") and code in (0, 1) and (code == 0) == ("not here" not in out)
