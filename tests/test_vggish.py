import math
import os
import zipfile

import numpy as np
import pytest
import torch

from instrec.cli import main
from instrec.errors import InstrecError
from instrec.representations.postprocess import fit_min_max, normalize_min_max, pca_quantize
from instrec.representations.registry import build_representation
from instrec.representations.vggish import VGGISH_SHAPES, VGGish, load_pca_params, load_vggish_weights


@pytest.fixture(scope="module")
def weights_file(module_tmp):
    torch.manual_seed(0)
    path = module_tmp.mktemp("w") / "vggish-test.pth"
    torch.save(VGGish().state_dict(), path)
    return path


@pytest.fixture(scope="module")
def pca_file(module_tmp):
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((128, 128)))
    path = module_tmp.mktemp("p") / "pca.pth"
    torch.save({"pca_eigen_vectors": q * 0.05, "pca_means": rng.standard_normal((128, 1)) * 0.1}, path)
    return path


def test_state_dict_layout_is_torchvggish():
    state = VGGish().state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == VGGISH_SHAPES
    assert sum(v.numel() for v in state.values()) == 72_141_184  # 72.1 M parameters


def test_torchvggish_state_dict_loads(weights_file):
    model = load_vggish_weights(weights_file)
    torch.manual_seed(0)
    reference = VGGish()
    x = torch.randn(3, 96, 64)
    with torch.inference_mode():
        torch.testing.assert_close(model(x), reference(x))


def test_wrong_keys_and_shapes_fail_clearly(tmp_path):
    state = VGGish().state_dict()
    del state["features.0.bias"]
    state["embeddings.4.weight"] = torch.zeros(10, 4096)
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(InstrecError) as err:
        load_vggish_weights(path)
    message = str(err.value)
    assert str(path) in message and "missing features.0.bias" in message
    assert "unexpected extra.weight" in message and "embeddings.4.weight has shape (10, 4096)" in message
    with pytest.raises(InstrecError, match="not found"):
        load_vggish_weights(tmp_path / "absent.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(InstrecError, match="cannot be read"):
        load_vggish_weights(tmp_path / "junk.pth")


def test_random_init_is_glorot_uniform():
    torch.manual_seed(1)
    model = VGGish()
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            assert torch.all(p == 0)
            continue
        fan_out, fan_in = p.shape[0] * p[0, 0].numel(), p.shape[1] * p[0, 0].numel()
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert p.abs().max() <= bound
        if p.numel() > 10_000:  # uniform on [-b, b] has std b / sqrt(3)
            assert abs(p.std().item() - bound / math.sqrt(3)) < 0.02 * bound


def test_flatten_is_nhwc():
    model = VGGish(final_relu=False).eval()
    x = torch.randn(2, 1, 96, 64)
    with torch.inference_mode():
        conv = model.features(x)  # (2, 512, 6, 4)
        h, w, c = 4, 3, 17
        model.embeddings[0].weight.zero_()
        model.embeddings[0].weight[0, h * 4 * 512 + w * 512 + c] = 1.0
        first = torch.relu(model.embeddings[0](conv.permute(0, 2, 3, 1).reshape(2, -1)))[:, 0]
        hidden = model.embeddings[1](model.embeddings[0](model.features(x).permute(0, 2, 3, 1).reshape(2, -1)))
    torch.testing.assert_close(first, torch.relu(conv[:, c, h, w]))
    torch.testing.assert_close(hidden[:, 0], torch.relu(conv[:, c, h, w]))
    assert conv.shape == (2, 512, 6, 4)


def test_final_relu_option():
    torch.manual_seed(2)
    with_relu, without = VGGish(True).eval(), VGGish(False).eval()
    without.load_state_dict(with_relu.state_dict())
    x = torch.randn(4, 96, 64)
    with torch.inference_mode():
        a, b = with_relu(x), without(x)
    assert (a >= 0).all() and (b < 0).any()
    torch.testing.assert_close(a, torch.relu(b))


def test_batched_equals_one_by_one(weights_file):
    rep = build_representation("vggish", weights=weights_file, postprocess="none")
    x = torch.randn(5, 96, 64)
    together = rep.embed(x)
    alone = np.concatenate([rep.embed(x[i : i + 1]) for i in range(5)])
    assert together.shape == (5, 128) and together.dtype == np.float32
    np.testing.assert_allclose(together, alone, atol=1e-5)


def _reference_postprocess(emb, e, mu, rounding):
    pca = e @ (emb.T - mu.reshape(-1, 1))
    clipped = np.clip(pca, -2.0, 2.0)
    q = (clipped + 2.0) * (255.0 / 4.0)
    return (np.round(q) if rounding == "round" else q).astype(np.uint8).T


@pytest.mark.parametrize("rounding", ["truncate", "round"])
def test_pca_quantization_equals_reference_formula(pca_file, rounding):
    e, mu = load_pca_params(pca_file)
    emb = np.random.default_rng(3).standard_normal((50, 128)) * 20
    ours = pca_quantize(emb, e, mu, rounding)
    assert ours.dtype == np.uint8 and ours.shape == (50, 128)
    np.testing.assert_array_equal(ours, _reference_postprocess(emb, e, mu, rounding))
    assert ours.min() == 0 and ours.max() == 255  # the clip at [-2, 2] is reached


def test_pca_file_in_numpy1_layout_loads_safely(pca_file, tmp_path):
    # the release file was pickled under numpy 1, where the rebuild function lived in numpy.core
    old = tmp_path / "old.pth"
    with zipfile.ZipFile(pca_file) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("data.pkl"):
                data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            dst.writestr(item, data)
    np.testing.assert_array_equal(load_pca_params(old)[0], load_pca_params(pca_file)[0])


def test_pca_file_with_foreign_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    path = tmp_path / "evil.pth"
    torch.save({"pca_eigen_vectors": Evil(), "pca_means": np.zeros(128)}, path)
    with pytest.raises(InstrecError, match="cannot be read safely"):
        load_pca_params(path)


def test_npz_pca_file(tmp_path, pca_file):
    e, mu = load_pca_params(pca_file)
    np.savez(tmp_path / "pca.npz", pca_eigen_vectors=e, pca_means=mu)
    np.testing.assert_array_equal(load_pca_params(tmp_path / "pca.npz")[1], mu)
    np.savez(tmp_path / "bad.npz", pca_eigen_vectors=e[:10])
    with pytest.raises(InstrecError, match="missing pca_means"):
        load_pca_params(tmp_path / "bad.npz")


def test_min_max_normalisation():
    train = np.random.default_rng(4).standard_normal((20, 10, 128)).astype(np.float32)
    stats = fit_min_max(train)
    out = normalize_min_max(train, stats)
    assert out.min() == 0.0 and out.max() == 1.0
    np.testing.assert_allclose(out.reshape(-1, 128).min(0), 0) and np.testing.assert_allclose(out.reshape(-1, 128).max(0), 1)
    assert normalize_min_max(train * 3, stats).max() == 1.0  # clipped outside the training range


def test_registry_shapes_and_errors(weights_file, pca_file):
    assert build_representation("logmel").output_shape == (96, 64)
    rand = build_representation("vggish-random", seed=3)
    assert rand.output_shape == (128,) and rand.key == "vggish-random-s3"
    again = build_representation("vggish-random", seed=3)
    x = torch.randn(2, 96, 64)
    np.testing.assert_array_equal(rand.embed(x), again.embed(x))
    assert not np.array_equal(rand.embed(x), build_representation("vggish-random", seed=4).embed(x))
    pca = build_representation("vggish", weights=weights_file, pca=pca_file)
    assert pca.postprocess == "pca" and pca.embed(x).dtype == np.uint8
    assert build_representation(f"vggish:{weights_file}").key.startswith("vggish-")
    with pytest.raises(InstrecError, match="unknown representation"):
        build_representation("mfcc")
    with pytest.raises(InstrecError, match="VGGish embeddings only"):
        build_representation("logmel", postprocess="pca")


def test_features_cli_vggish(tmp_path, fixtures, weights_file, pca_file):
    clip = str(fixtures / "audio" / "openmic_000046_3840.ogg")
    out = tmp_path / "f.npy"
    assert main(["features", clip, "--representation", "vggish", "--weights", str(weights_file), "--out", str(out)]) == 0
    assert np.load(out).shape == (10, 128) and np.load(out).dtype == np.float32
    assert main(["features", clip, "--representation", "vggish", "--weights", str(weights_file), "--pca",
                 str(pca_file), "--postprocess", "pca", "--out", str(out)]) == 0
    assert np.load(out).dtype == np.uint8
    assert main(["features", clip, "--representation", "vggish", "--weights", str(weights_file),
                 "--postprocess", "norm", "--out", str(out)]) == 2


REAL_WEIGHTS = os.environ.get("INSTREC_VGGISH_WEIGHTS")
REAL_PCA = os.environ.get("INSTREC_VGGISH_PCA")


@pytest.mark.skipif(not (REAL_WEIGHTS and REAL_PCA), reason="set INSTREC_VGGISH_WEIGHTS and INSTREC_VGGISH_PCA")
def test_reproduces_released_openmic_features(fixtures, capsys):
    from instrec.audio import load_audio
    from instrec.datasets.openmic import OpenMIC
    from instrec.frontend import waveform_to_examples

    dataset = OpenMIC(fixtures / "openmic-2018")
    released = dataset.released_features("000046_3840").astype(int)
    rows = []
    for peak in (True, False):
        for relu in (True, False):
            rep = build_representation("vggish", weights=REAL_WEIGHTS, pca=REAL_PCA, final_relu=relu)
            samples = load_audio(dataset.audio_path("000046_3840"), peak_normalize=peak)
            ours = rep.embed(torch.from_numpy(waveform_to_examples(samples))).astype(int)
            diff = np.abs(ours - released)
            rows.append((peak, relu, float(np.mean(diff)), int(np.max(diff))))
    with capsys.disabled():
        for peak, relu, mean, worst in rows:
            print(f"peak_normalize={peak} final_relu={relu}: mean |diff| {mean:.2f} levels, max {worst}")
    best = min(rows, key=lambda r: r[2])
    assert best[0] and best[1]  # the OpenMIC recipe: peak normalisation, ReLU kept
    assert best[2] <= 3.0


def test_the_same_weights_saved_twice_give_the_same_representation_key(tmp_path):
    from instrec.io import atomic_torch_save

    with torch.random.fork_rng():
        torch.manual_seed(0)
        state = {"vggish": VGGish().state_dict(), "objective": "textual"}
    for name in ("a", "b"):  # atomic writes go through randomly named temporary files
        atomic_torch_save(tmp_path / name / "vggish.pt", state)
    assert (tmp_path / "a" / "vggish.pt").read_bytes() == (tmp_path / "b" / "vggish.pt").read_bytes()
    keys = {build_representation(f"vggish:{tmp_path / name / 'vggish.pt'}").key for name in ("a", "b")}
    assert len(keys) == 1
