"""Model folders are data, never code: a pickle planted where instrec loads models is refused, not run."""

import json
from pathlib import Path

import pytest
import torch

from instrec.cli import main
from instrec.config import TrainConfig
from instrec.errors import InstrecError
from instrec.training import SplitData, train_classifier

REAL_DEV = Path(__file__).parent / "fixtures" / "real-dev"


class _Plant:
    """Unpickling this writes ``target``: what a hostile file would do."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return exec, (f"open({self.target!r}, 'w').write('planted code ran')",)


def _plant(path, target, **extra):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model_args": _Plant(target), "state_dict": {}, **extra}, path)


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("instrec: error: ")
    return err[0]


def test_planted_best_pt_in_a_run_folder(tmp_path, capsys):
    target = tmp_path / "pwned"
    _plant(tmp_path / "run" / "best.pt", target)
    line = _one_line_error(capsys, ["predict", "--model", str(tmp_path / "run"), "x.wav"])
    assert "best.pt" in line and "read safely" in line
    assert not target.exists()


def test_planted_best_pt_picked_from_a_study(tmp_path, capsys):
    target = tmp_path / "pwned"
    study = tmp_path / "study"
    study.mkdir()
    row = {"key": "logmel", "label": "Log-Mel", "source": "extracted from audio", "state": "ok", "from_audio": True,
           "seeds": [0], "f1_macro": {"mean": 0.5}}
    (study / "results.json").write_text(json.dumps({"rows": [row]}))
    _plant(study / "cells" / "logmel" / "seed0" / "best.pt", target)
    line = _one_line_error(capsys, ["predict", "--model", str(study), "x.wav"])
    assert "best.pt" in line and not target.exists()


def test_planted_last_pt_checkpoint(tmp_path):
    target = tmp_path / "pwned"
    run = tmp_path / "run"
    torch.save({"model": _Plant(target)}, (run / "checkpoints").mkdir(parents=True) or run / "checkpoints" / "last.pt")
    data = SplitData(torch.rand(4, 10, 8), torch.ones(4, 3), torch.ones(4, 3, dtype=torch.bool), list("abcd"))
    with pytest.raises(InstrecError, match="last.pt: not an instrec training checkpoint that can be read safely"):
        train_classifier(data, data, TrainConfig(epochs=1, hidden=16, groups=4), run)
    assert not target.exists() and not (run / "best.pt").exists()


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated zip", b"not a model at all\n" * 10])
def test_corrupt_best_pt_is_one_line(tmp_path, capsys, content):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "best.pt").write_bytes(content)
    line = _one_line_error(capsys, ["predict", "--model", str(tmp_path / "run"), "x.wav"])
    assert "best.pt: not an instrec model bundle" in line


def test_training_without_labelled_validation_writes_no_model(tmp_path):
    train = SplitData(torch.rand(4, 10, 8), torch.ones(4, 3), torch.ones(4, 3, dtype=torch.bool), list("abcd"))
    unlabelled = SplitData(torch.rand(2, 10, 8), torch.ones(2, 3), torch.zeros(2, 3, dtype=torch.bool), list("ef"))
    with pytest.raises(InstrecError, match="no model was written"):
        train_classifier(train, unlabelled, TrainConfig(epochs=2, hidden=16, groups=4), tmp_path / "run")
    assert not (tmp_path / "run" / "best.pt").exists()


def test_nan_weights_are_refused_not_used(tmp_path, capsys):
    from instrec.representations.vggish import VGGish

    state = VGGish().state_dict()
    state["embeddings.0.weight"][0, 0] = float("nan")
    torch.save(state, tmp_path / "nan.pth")
    assert main(["features", str(REAL_DEV / "tinysol__Fl-ord-C4-mf-N-T14d.wav"), "--representation",
                 f"vggish:{tmp_path / 'nan.pth'}", "--out", str(tmp_path / "f.npy")]) == 2
    assert "NaN or infinite" in capsys.readouterr().err and not (tmp_path / "f.npy").exists()
    from instrec.bundle import save_run_bundle

    with pytest.raises(InstrecError, match="NaN or infinite"):
        save_run_bundle(tmp_path / "best.pt", {"state_dict": {"w": torch.tensor([1.0, float("inf")])}})
    assert not (tmp_path / "best.pt").exists()
