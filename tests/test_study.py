import json

import numpy as np
import pytest
import torch

from instrec import study
from instrec.representations.vggish import VGGish


@pytest.fixture(scope="module")
def grid(module_tmp):
    root = module_tmp.mktemp("study")
    torch.manual_seed(0)
    torch.save(VGGish().state_dict(), root / "vggish-test.pth")
    q = np.linalg.qr(np.random.default_rng(0).standard_normal((128, 128)))[0]
    torch.save({"pca_eigen_vectors": q * 0.1, "pca_means": np.zeros(128)}, root / "pca-test.pth")
    kwargs = dict(out_dir=root / "out", data_dir=root / "data", weights=root / "vggish-test.pth", pca=root / "pca-test.pth")
    return root, kwargs, study.run_study("tiny", **kwargs)


def test_grid_has_every_row_and_matches_the_cells(grid):
    root, _, results = grid
    out = root / "out"
    keys = [r["key"] for r in results["rows"]]
    assert keys == [r.key for r in study.ROWS] + ["openmic-rf-baseline"]
    for row in results["rows"]:
        assert row["seeds"] == 2, row
        cells = [json.loads((out / "cells" / row["key"] / f"seed{k}" / "test_metrics.json").read_text()) for k in range(2)]
        assert row["f1_macro"]["mean"] == pytest.approx(np.mean([c["f1_macro"] for c in cells]))
        assert row["f1_macro"]["std"] == pytest.approx(np.std([c["f1_macro"] for c in cells]))
        assert row["map"]["mean"] == pytest.approx(np.mean([c["map"] for c in cells]))
    saved = json.loads((out / "results.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(results["rows"]))
    for name in ("fig2_per_class.png", "fig2_overall.png", "fig3_per_class.png", "fig3_overall.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    report = (out / "report.md").read_text()
    assert "tiny" in report and "fig3_overall.png" in report and "Den +" in report
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 9 * 22
    assert json.loads((out / "config.json").read_text())["train"]["epochs"] == 2
    assert results["rows"][2]["from_audio"] and results["rows"][2]["source"].startswith("extracted")


def test_rerun_skips_finished_cells_and_a_failing_cell_loses_nothing(grid, monkeypatch):
    root, kwargs, first = grid
    out = root / "out"
    done = out / "cells" / "logmel" / "seed0" / "test_metrics.json"
    stamp = done.stat().st_mtime_ns
    victim = out / "cells" / "textual" / "seed1"
    (victim / "test_metrics.json").unlink()
    real = study._run_cell

    def failing(kind, dataset, store, config, cell):
        if cell == victim:
            raise RuntimeError("simulated failure")
        return real(kind, dataset, store, config, cell)

    monkeypatch.setattr(study, "_run_cell", failing)
    results = study.run_study("tiny", **kwargs)
    assert done.stat().st_mtime_ns == stamp  # not recomputed
    textual = next(r for r in results["rows"] if r["key"] == "textual")
    assert textual["seeds"] == 1 and textual["state"] == "failed"
    assert textual["source"].startswith("failed: simulated failure")
    assert "simulated failure" in (victim / "FAILED.txt").read_text()
    others = [r for r in results["rows"] if r["key"] != "textual"]
    assert all(r["seeds"] == 2 for r in others)
    assert results["seconds"] < first["seconds"]


def test_real_recordings_are_scored_beside_the_test_split(grid, tmp_path):
    """`study --real DIR`: every row whose model runs on audio gets its cells' scores on the labelled recordings
    (cached per cell), the others none; the table and CSV show them."""
    import csv
    import shutil
    from pathlib import Path

    from instrec.evaluation import evaluate_audio
    from instrec.predict import load_model

    real_dev = Path(__file__).parent / "fixtures" / "real-dev"
    rows = list(csv.DictReader(open(real_dev / "labels.csv")))[:4]
    (tmp_path / "real").mkdir()
    for r in rows:
        shutil.copy(real_dev / r["file"], tmp_path / "real" / r["file"])
    (tmp_path / "real" / "labels.csv").write_text("file,instruments\n" + "".join(f"{r['file']},{r['instruments']}\n"
                                                                               for r in rows))
    root, kwargs, _ = grid
    results = study.run_study("tiny", **kwargs, real=tmp_path / "real")
    by_key = {r["key"]: r for r in results["rows"]}
    assert by_key["openmic-rf-baseline"]["real"]["f1_macro_present"]["n"] == 0  # a forest on features: no audio
    logmel = by_key["logmel"]["real"]
    assert logmel["files"] == 4 and logmel["f1_macro_present"]["n"] == 2
    cell = root / "out" / "cells" / "logmel" / "seed0"
    expected = evaluate_audio(load_model(cell), tmp_path / "real", tmp_path / "real" / "labels.csv")
    assert json.loads((cell / "real_metrics.json").read_text())["map"] == pytest.approx(expected["map"])
    table = (root / "out" / "results.md").read_text()
    assert "real recordings: F1 (classes present)" in table
    assert "real_map" in (root / "out" / "results.csv").read_text()
