import json

import pytest

from instrec.cli import main
from instrec.datasets.synth import synth_dataset


@pytest.fixture(scope="module")
def dataset(module_tmp):
    return synth_dataset("openmic", module_tmp.mktemp("d") / "om", size=16, seed=2, workers=1)


def test_train_and_evaluate_cli(dataset, tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--dataset", str(dataset), "--representation", "logmel", "--set", "epochs=3",
               "--set", "batch_size=8", "--out", str(run), "--baseline"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "mean" in out and "random-forest baseline" in out
    report = json.loads((run / "test_metrics.json").read_text())
    assert set(report["per_class"]) >= {"piano", "violin"} and 0 <= report["f1_macro"] <= 1
    assert (run / "test_metrics.csv").read_text().splitlines()[0] == "class,f1_macro,ap,labelled,positives"
    assert (run / "baseline_rf_test_metrics.json").exists()
    assert json.loads((run / "config.json").read_text())["epochs"] == 3
    (run / "test_metrics.json").unlink()
    assert main(["evaluate", str(run)]) == 0
    assert json.loads((run / "test_metrics.json").read_text())["f1_macro"] == report["f1_macro"]


def test_evaluate_without_a_run_fails_clearly(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "no trained model" in capsys.readouterr().err


def test_torchrun_two_processes_on_cpu(dataset, tmp_path):
    import subprocess
    import sys

    run = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "instrec", "train",
               "--dataset", str(dataset), "--representation", "logmel", "--set", "epochs=2", "--set", "batch_size=8",
               "--out", str(run)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("test F1-macro") == 1  # rank 0 reports, once
    assert json.loads((run / "test_metrics.json").read_text())["f1_macro"] is not None
    assert len((run / "log.csv").read_text().splitlines()) == 3


@pytest.mark.parametrize("given,floor", [([], 0.25), (["--floor", "0.3"], 0.3), (["--floor", "none"], None)])
def test_train_default_takes_the_floor_into_its_recipe(tmp_path, monkeypatch, given, floor):
    """`train-default --floor P|none`: the recipe (and so the export's model.json) gets P, or no floor at all."""
    from instrec import default_model

    seen = {}
    monkeypatch.setattr(default_model, "train_default", lambda out, recipe, **kw: seen.setdefault("recipe", recipe))
    assert main(["train-default", "--out", str(tmp_path / "out"), *given]) == 0
    assert seen["recipe"].floor == floor and default_model.Recipe().floor == 0.25


@pytest.mark.parametrize("given,features", [([], "embedding"), (["--probe-features", "both"], "both")])
def test_train_default_takes_what_the_probe_reads_into_its_recipe(tmp_path, monkeypatch, given, features):
    from instrec import default_model

    seen = {}
    monkeypatch.setattr(default_model, "train_default", lambda out, recipe, **kw: seen.setdefault("recipe", recipe))
    assert main(["train-default", "--out", str(tmp_path / "out"), *given]) == 0
    assert seen["recipe"].probe_features == features
