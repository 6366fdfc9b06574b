import json

import numpy as np
import pytest
import torch

from instrec.cli import main
from instrec.datasets.openmic import OpenMIC
from instrec.datasets.synth import synth_dataset
from instrec.extract import FeatureStore, extract, extract_split, open_dataset
from instrec.representations.registry import build_representation
from instrec.representations.vggish import VGGish


@pytest.fixture(scope="module")
def small_openmic(module_tmp):
    return synth_dataset("openmic", module_tmp.mktemp("om") / "openmic", size=6, seed=1, workers=1)


def test_logmel_store_shapes_and_stats(small_openmic, tmp_path):
    dataset = OpenMIC(small_openmic)
    store = FeatureStore(extract(dataset, build_representation("logmel")))
    for split in dataset.splits:
        feats = store.features(split)
        assert feats.shape == (len(dataset.keys(split)), 10, 96, 64) and feats.dtype == np.float32
        assert store.keys(split) == dataset.keys(split)
        assert isinstance(feats, np.memmap)
    stats = store.norm_stats()
    assert stats["minimum"].shape == (64,)
    train = np.asarray(store.features("train")).reshape(-1, 64)
    np.testing.assert_array_equal(stats["maximum"], train.max(0))
    assert store.meta["representation"]["name"] == "logmel"


def test_interrupted_extraction_resumes_to_the_same_bytes(small_openmic, tmp_path):
    dataset = OpenMIC(small_openmic)
    rep = build_representation("vggish-random", seed=0)
    whole = extract_split(dataset, "train", rep, tmp_path / "whole", batch_clips=1)

    def kill_after_two(done: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract_split(dataset, "train", rep, tmp_path / "resumed", batch_clips=1, after_batch=kill_after_two)
    progress = json.loads((tmp_path / "resumed" / "train.progress.json").read_text())
    assert progress["done"] == 2 and not (tmp_path / "resumed" / "train.npy").exists()
    resumed = extract_split(dataset, "train", rep, tmp_path / "resumed", batch_clips=2)
    assert whole.read_bytes() == resumed.read_bytes()
    assert not (tmp_path / "resumed" / "train.progress.json").exists()


def test_bad_audio_is_skipped_and_reported(small_openmic, tmp_path, capsys):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(small_openmic, root, ignore=shutil.ignore_patterns("features"))
    dataset = OpenMIC(root)
    bad = dataset.keys("train")[0]
    dataset.audio_path(bad).write_bytes(b"garbage")
    rc = main(["extract", "--dataset", str(root), "--representation", "logmel", "--splits", "train"])
    assert rc == 1
    store = FeatureStore(root / "features" / "logmel")
    assert store.failed("train") == [bad]
    feats = store.features("train")
    assert not feats[0].any() and feats[1].any()
    assert bad in capsys.readouterr().err


def test_write_x_into_openmic_npz(small_openmic, tmp_path):
    import shutil

    root = tmp_path / "npz"
    shutil.copytree(small_openmic, root, ignore=shutil.ignore_patterns("features"))
    torch.manual_seed(0)
    torch.save(VGGish().state_dict(), tmp_path / "w.pth")
    rng = np.random.default_rng(0)
    torch.save({"pca_eigen_vectors": np.linalg.qr(rng.standard_normal((128, 128)))[0], "pca_means": np.zeros(128)},
               tmp_path / "pca.pth")
    assert main(["extract", "--dataset", str(root), "--representation", "vggish", "--weights", str(tmp_path / "w.pth"),
                 "--pca", str(tmp_path / "pca.pth"), "--write-npz"]) == 0
    dataset = OpenMIC(root)
    assert dataset.X is not None and dataset.X.shape == (6, 10, 128) and dataset.X.dtype == np.uint8
    store = FeatureStore(next((root / "features").iterdir()))
    key = dataset.keys("test")[0]
    np.testing.assert_array_equal(dataset.X[dataset.row_of[key]], store.features("test")[0])


def test_open_dataset_rejects_other_folders(tmp_path):
    from instrec.errors import InstrecError

    with pytest.raises(InstrecError, match="not a dataset folder"):
        open_dataset(tmp_path)
