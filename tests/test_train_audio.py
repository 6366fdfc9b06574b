"""instrec train-audio: a class outside the 20 learned from a folder of labelled recordings."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from instrec.cli import main

REAL_DEV = Path(__file__).parent / "fixtures" / "real-dev"


def _bell(rng: np.random.Generator, seconds: float = 1.2) -> np.ndarray:
    """A made-up timbre: four inharmonic partials, each decaying at its own rate, with a 7 Hz tremolo."""
    t = np.arange(int(seconds * 16000)) / 16000
    f0 = rng.uniform(300, 900)
    x = sum(a * np.sin(2 * np.pi * f0 * r * t + rng.uniform(0, 6)) * np.exp(-t * rng.uniform(1.5, 3) * r ** 0.5)
            for r, a in ((1, 1), (2.76, 0.6), (5.4, 0.4), (8.93, 0.25)))
    return (0.3 * x * np.minimum(t / 0.003, 1) * (1 + 0.3 * np.sin(2 * np.pi * 7 * t)) / np.abs(x).max()
            ).astype(np.float32)


@pytest.fixture(scope="module")
def folder(module_tmp):
    """12 recordings of the made-up glass_bell and 16 real-dev recordings with their labels; and held-out bells."""
    root = module_tmp.mktemp("mine")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        sf.write(root / f"bell{i:02d}.wav", np.concatenate([_bell(rng) for _ in range(3)]), 16000)
        rows.append((f"bell{i:02d}.wav", "glass_bell"))
    for r in list(csv.DictReader(open(REAL_DEV / "labels.csv")))[:16]:
        shutil.copy(REAL_DEV / r["file"], root / r["file"])
        rows.append((r["file"], r["instruments"]))
    (root / "labels.csv").write_text("file,instruments\n" + "".join(f"{a},{b}\n" for a, b in rows))
    held = module_tmp.mktemp("held")
    for i in range(3):
        sf.write(held / f"new{i}.wav", np.concatenate([_bell(np.random.default_rng(100 + i)) for _ in range(3)]),
                 16000)
    return root, held


@pytest.fixture(scope="module")
def trained(folder, module_tmp):
    root, _ = folder
    out = module_tmp.mktemp("model") / "mine"
    assert main(["train-audio", "--audio", str(root), "--out", str(out), "--folds", "3", "--epochs", "10"]) == 0
    return out


def test_a_new_class_is_learned_and_cross_validated_by_file(trained):
    report = json.loads((trained / "train-audio.json").read_text())
    cv = report["cross_validation"]
    assert cv["folds"] == 3 and cv["grouped_by"] == "file"
    assert cv["per_class"]["glass_bell"]["positives"] == 12
    assert cv["per_class"]["glass_bell"]["ap"] >= 0.9 and cv["per_class"]["glass_bell"]["f1_macro"] >= 0.8
    card = json.loads((trained / "model.json").read_text())
    assert card["classes"][-1] == "glass_bell" and "piano" in card["classes"]  # the shipped classes it keeps


def test_the_model_recognises_the_new_class_on_files_it_never_heard(trained, folder, capsys):
    _, held = folder
    assert main(["predict", str(held), "--model", str(trained), "--format", "json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 3 and all(r["present"][0] == "glass_bell" for r in records)
    import instrec

    model = instrec.load_model(trained)
    assert model.predict(held / "new0.wav").instruments()[0][0] == "glass_bell"


def test_the_model_round_trips_through_evaluate_audio(trained, folder, capsys, tmp_path):
    root, _ = folder
    assert main(["evaluate-audio", "--audio", str(root), "--model", str(trained), "--out", str(tmp_path / "r")]) == 0
    report = json.loads((tmp_path / "r" / "evaluation.json").read_text())
    assert report["per_class"]["glass_bell"]["f1_macro"] == 1.0  # the files it was trained on


def test_only_my_classes_keeps_only_the_labelled_ones(folder, tmp_path):
    root, _ = folder
    out = tmp_path / "only"
    assert main(["train-audio", "--audio", str(root), "--out", str(out), "--folds", "2", "--epochs", "2",
                 "--only-my-classes"]) == 0
    classes = json.loads((out / "model.json").read_text())["classes"]
    labelled = {c for r in csv.DictReader(open(root / "labels.csv")) for c in r["instruments"].split(";")}
    assert set(classes) == labelled


@pytest.mark.parametrize("labels,message", [
    ("file,instruments\nbell00.wav,glass bell;x/y\n", "instrument name 'x/y'"),
    ("file,instruments\nbell00.wav,a,b\n", "3 fields where the header has 2"),
    ("file,instruments\nmissing.wav,glass_bell\n", "not found"),
    ("file,instruments\nbell00.wav,\nbell01.wav,\n", "no file is labelled with an instrument"),
])
def test_bad_labels_are_one_line(folder, tmp_path, capsys, labels, message):
    root, _ = folder
    (tmp_path / "labels.csv").write_text(labels)
    code = main(["train-audio", "--audio", str(root), "--labels", str(tmp_path / "labels.csv"), "--out",
                 str(tmp_path / "m")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "m").exists()
