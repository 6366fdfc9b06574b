"""Scoring on labelled audio: labels files, metrics against sklearn, the leave-one-bank-out protocol."""

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import load_script
from instrec.datasets.classes import OPENMIC_CLASSES
from instrec.errors import InstrecError
from instrec.evaluation import read_labels, score

CLASSES = list(OPENMIC_CLASSES)
REAL_DEV = Path(__file__).parent / "fixtures" / "real-dev"


def _write(path: Path, rows, header=("file", "instruments")):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_real_dev_labels_are_complete_and_known():
    rows = read_labels(REAL_DEV / "labels.csv", REAL_DEV, CLASSES)
    assert len(rows) == 29
    present = {c for _, instruments in rows for c in instruments}
    assert present == {"bass", "cello", "clarinet", "drums", "flute", "guitar", "piano", "saxophone", "trumpet",
                       "violin", "voice"}


@pytest.mark.parametrize("rows,message", [
    ([("a.wav", "piano;kazoo")], "unknown instrument 'kazoo'"),
    ([("missing.wav", "piano")], "missing.wav not found"),
    ([("a.wav", "piano"), ("a.wav", "drums")], "listed twice"),
])
def test_bad_labels_files_give_one_clear_error(tmp_path, rows, message):
    shutil.copy(REAL_DEV / "tinysol__Fl-ord-C4-mf-N-T14d.wav", tmp_path / "a.wav")
    labels = _write(tmp_path / "labels.csv", rows)
    with pytest.raises(InstrecError, match=message) as err:
        read_labels(labels, tmp_path, CLASSES)
    assert "\n" not in str(err.value) and "labels.csv" in str(err.value)
    with pytest.raises(InstrecError, match="file,instruments"):
        read_labels(_write(tmp_path / "bad.csv", [("a.wav",)], header=("name",)), tmp_path, CLASSES)


def test_score_equals_sklearn_per_class_f1_macro_and_ap():
    from sklearn.metrics import average_precision_score, classification_report

    rng = np.random.default_rng(0)
    probs = rng.random((30, 4)).astype(np.float32)
    labels = (rng.random((30, 4)) < 0.3).astype(np.float32)
    labels[:10] = 0
    labels[np.arange(10), rng.integers(0, 4, 10)] = 1  # ten single-instrument rows
    mask = np.ones_like(labels, bool)
    names = ["a", "b", "c", "d"]
    result = score(probs, labels, mask, names, 0.5)
    for c, name in enumerate(names):
        expected = classification_report(labels[:, c], probs[:, c] >= 0.5, output_dict=True, zero_division=0)
        assert result["per_class"][name]["f1_macro"] == pytest.approx(expected["macro avg"]["f1-score"])
        assert result["per_class"][name]["ap"] == pytest.approx(average_precision_score(labels[:, c], probs[:, c]))
    single = np.flatnonzero(labels.sum(1) == 1)
    assert result["single_instrument_items"] == len(single)
    assert result["top1"] == pytest.approx(np.mean(probs[single].argmax(1) == labels[single].argmax(1)))
    assert sum(sum(row.values()) for row in result["confusion"].values()) == len(single)


def test_holdout_protocol_end_to_end(tmp_path):
    from instrec.datasets.synth.render import default_soundfont
    from instrec.generalisation import run_holdout

    other = tmp_path / "otherbank.sf2"
    shutil.copy(default_soundfont(), other)
    real = tmp_path / "real"
    real.mkdir()
    for name in ("tinysol__Fl-ord-C4-mf-N-T14d.wav", "filosax__p1_01_Sax.wav"):
        shutil.copy(REAL_DEV / name, real / name)
    _write(real / "labels.csv", [("tinysol__Fl-ord-C4-mf-N-T14d.wav", "flute"), ("filosax__p1_01_Sax.wav", "saxophone")])
    results = run_holdout(["otherbank"], ["logmel"], tmp_path / "out", size=16, epochs=1, seed=0,
                          real=(real, real / "labels.csv"), pool=[default_soundfont(), other])
    cell = results["cells"][0]
    assert cell["held_out"] == "otherbank" and cell["real"]["files"] == 2
    assert cell["real"]["single_instrument_items"] == 2 and cell["banks"]["otherbank"]["files"] > 0
    assert "held out: otherbank" in (tmp_path / "out" / "results.md").read_text()
    again = run_holdout(["otherbank"], ["logmel"], tmp_path / "out", size=16, epochs=1, seed=0,
                        real=(real, real / "labels.csv"), pool=[default_soundfont(), other])
    assert again["cells"] == results["cells"]  # resumed from the cache, same numbers


def test_per_class_thresholds_separate_each_class_at_its_own_level():
    from instrec.default_model import per_class_thresholds

    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]], np.float32)
    probs = np.array([[0.32, 0.60, 0.9], [0.35, 0.80, 0.9], [0.20, 0.85, 0.9], [0.20, 0.65, 0.9]])
    mask = np.ones_like(labels, bool)
    mask[:, 2] = False  # never labelled
    thresholds = per_class_thresholds(probs, labels, mask)
    # class 0: every threshold in (0.20, 0.32] separates it, the lowest of the grid is 0.25; class 1: (0.65, 0.80]
    np.testing.assert_allclose(thresholds, [0.25, 0.70, 0.5])
    predicted = probs >= thresholds
    assert (predicted[:, :2] == labels[:, :2].astype(bool)).all()


def test_runs_of_examples_average_the_classifier_over_shorter_runs():
    import torch

    from instrec import params as P

    script = load_script("score_ensemble")
    # example k of the clip holds the value k; the "classifier" reports the largest value it is shown
    x = torch.arange(10, dtype=torch.float32).repeat_interleave(P.EXAMPLE_FRAMES)[None, :, None].expand(2, -1, 4)

    class Loudest(torch.nn.Module):
        def forward(self, features):
            return {"probs": features.amax(dim=(1, 2))[:, None]}

    loudest = Loudest()

    np.testing.assert_allclose(script.probabilities(loudest, x, 0), [[9.0], [9.0]])
    # runs of 3 start at examples 0..7 and reach up to examples 2..9: mean 5.5
    np.testing.assert_allclose(script.probabilities(loudest, x, 3), [[5.5], [5.5]])
