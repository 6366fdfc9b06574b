import subprocess
import sys

import numpy as np
import pytest
import torch

from instrec.datasets.synth import synth_dataset
from instrec.errors import InstrecError
from instrec.pretraining.data import quality_targets
from instrec.pretraining.objectives import DenoisingDecoder, corrupt, nt_xent, textual_loss
from instrec.pretraining.stage1 import PretrainConfig, Stage1, pretrain
from instrec.pretraining.wordvectors import QUALITY_WORDS, load_word_vectors
from instrec.representations.registry import build_representation

TINY = dict(batch_size=4, max_train_items=8, max_valid_items=4)


@pytest.fixture(scope="module")
def data(module_tmp):
    root = module_tmp.mktemp("stage1")
    return {"nsynth": synth_dataset("nsynth", root / "nsynth", size=120, seed=4, workers=1),
            "freesound": synth_dataset("freesound", root / "freesound", size=30, seed=4, workers=1)}


def test_decoder_lengths_are_1_10_30_60_96():
    decoder = DenoisingDecoder()
    lengths, x = [], torch.randn(2, 128).unsqueeze(2)
    for layer in decoder.layers:
        x = layer(x)
        if isinstance(layer, torch.nn.ConvTranspose1d):
            lengths.append(x.shape[2])
    assert lengths == [10, 30, 60, 96] and x.shape == (2, 64, 96)
    assert decoder(torch.randn(3, 128)).shape == (3, 96, 64)


def test_corruptions():
    x = torch.randn(200, 96, 64)
    additive = corrupt(x, "additive") - x
    assert abs(additive.std().item() - 0.1) < 0.005 and abs(additive.mean().item()) < 0.005
    masked = corrupt(x, "multiplicative")
    kept = masked == x
    assert abs(kept.float().mean().item() - 0.5) < 0.01 and torch.all(masked[~kept] == 0)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    torch.testing.assert_close(corrupt(x, "additive", generator=g1), corrupt(x, "additive", generator=g2))


def test_textual_loss_follows_cosine_embedding_loss():
    g = torch.Generator().manual_seed(0)
    predicted, target = torch.randn(6, 50, generator=g), torch.randn(6, 50, generator=g)
    target[3] = target[2]  # the rolled target equals its own: no negative pair for row 3
    reference = torch.nn.CosineEmbeddingLoss(margin=0.5, reduction="sum")
    keep = [i for i in range(6) if not torch.equal(target[i - 1], target[i])]
    pos = reference(predicted, target, torch.ones(6))
    neg = reference(predicted[keep], target.roll(1, 0)[keep], -torch.ones(len(keep)))
    torch.testing.assert_close(textual_loss(predicted, target), (pos + neg) / (6 + len(keep)))
    # a perfect prediction of a target far from the others costs nothing
    t = torch.eye(4)
    assert textual_loss(t * 3, t).item() == pytest.approx(0.0, abs=1e-6)


def test_nt_xent_equals_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 8)), rng.standard_normal((5, 8))
    z = np.concatenate([a, b])
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    sim = z @ z.T / 0.1
    n, losses = 5, []
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        others = [k for k in range(2 * n) if k != i]
        losses.append(-sim[i, j] + np.log(np.sum(np.exp(sim[i, others]))))
    ours = nt_xent(torch.tensor(a), torch.tensor(b), 0.1).item()
    assert ours == pytest.approx(np.mean(losses), rel=1e-9)


def test_word_vector_formats(tmp_path):
    words = {"bright": np.arange(3, dtype=np.float32), "dark": -np.arange(3, dtype=np.float32)}
    text = tmp_path / "v.txt"
    text.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in words.items()) + "other 1 1 1\n")
    binary = tmp_path / "v.bin"
    with open(binary, "wb") as f:
        f.write(b"3 3\n")
        for w, v in [*words.items(), ("other", np.ones(3, np.float32))]:
            f.write(w.encode() + b" " + v.astype("<f4").tobytes() + b"\n")
    for path in (text, binary):
        loaded = load_word_vectors(["bright", "dark", "absent"], path)
        assert set(loaded) == {"bright", "dark"}
        np.testing.assert_array_equal(loaded["dark"], words["dark"])
    default = load_word_vectors(list(QUALITY_WORDS.values()))
    assert set(default) == set(QUALITY_WORDS.values()) - {"multiphonic"}
    assert {v.shape for v in default.values()} == {(50,)}
    with pytest.raises(InstrecError, match="none of"):
        load_word_vectors(["zzzz"], text)


def test_quality_targets_average_the_renamed_words():
    vectors = {"decay": np.array([1.0, 0.0]), "bright": np.array([0.0, 1.0])}
    examples = {"a": {"qualities_str": ["fast_decay", "bright"]}, "b": {"qualities_str": []},
                "c": {"qualities_str": ["multiphonic"]}}
    targets, keep = quality_targets(examples, ["a", "b", "c"], vectors)
    np.testing.assert_allclose(targets[0], [0.5, 0.5])
    assert keep.tolist() == [True, False, False]


def _five_steps(module: Stage1, batch: list[torch.Tensor], lr: float) -> list[float]:
    """The losses of five Adam steps on one batch (the same corruption each time: a fixed problem)."""
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    losses = []
    for _ in range(5):
        loss = module.loss(batch, torch.Generator().manual_seed(0))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("objective", ["textual", "denoise-additive", "denoise-multiplicative", "align"])
def test_each_objective_loss_decreases(data, objective):
    from instrec.pretraining.inputs import objective_tensors

    root = data["freesound" if objective == "align" else "nsynth"]
    train, _, sizes = objective_tensors(objective, root, PretrainConfig(max_train_items=8, max_valid_items=4))
    torch.manual_seed(0)
    module = Stage1(objective, **sizes)
    losses = _five_steps(module, [t[:8] for t in train], lr=1e-4)
    assert losses[-1] < losses[0], losses


def test_early_stopping_stops(data, tmp_path):
    config = PretrainConfig(max_epochs=10, patience=1, lr=1e-30, **TINY)  # updates below float32 resolution
    out = pretrain("denoise-additive", data["nsynth"], tmp_path / "run", config)
    checkpoint = torch.load(out, weights_only=True)
    assert checkpoint["epochs_run"] == 2  # epoch 0 sets the best, epoch 1 does not improve: stop
    assert not list((tmp_path / "run" / "checkpoints").glob("*.ckpt"))  # finished: vggish.pt holds the best weights
    rep = build_representation(f"vggish:{out}")
    assert rep.embed(torch.zeros(2, 96, 64)).shape == (2, 128)


def test_killed_run_resumes(data, tmp_path):
    config = PretrainConfig(max_epochs=2, **TINY)
    with pytest.raises((KeyboardInterrupt, SystemExit)):  # Lightning turns the interrupt into exit(1)
        pretrain("align", data["freesound"], tmp_path / "run", config, stop_after_epochs=1)
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").exists() and not (tmp_path / "run" / "vggish.pt").exists()
    assert (tmp_path / "run" / "checkpoints" / "best.ckpt").exists()  # kept while the run is unfinished
    out = pretrain("align", data["freesound"], tmp_path / "run", config)
    logs = sorted((tmp_path / "run" / "logs").glob("version_*/metrics.csv"))
    epochs = [sorted({int(line.split(",")[0]) for line in log.read_text().splitlines()[1:]}) for log in logs]
    assert epochs == [[0], [1]]  # the second start continued at epoch 1
    assert torch.load(out, weights_only=True)["epochs_run"] == 2


def test_two_process_ddp_on_cpu(data, tmp_path):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "instrec", "pretrain", "--objective", "denoise-multiplicative", "--dataset",
               str(data["nsynth"]), "--out", str(out), "--set", "max_epochs=1", "--set", "devices=2",
               "--set", "strategy=ddp", "--set", "accelerator=cpu", "--set", "batch_size=4",
               "--set", "max_train_items=8", "--set", "max_valid_items=4"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "distributed_backend=gloo" in result.stderr and "All distributed processes registered" in result.stderr
    assert (out / "vggish.pt").exists() and result.stdout.count("pre-trained with") == 1


@pytest.mark.slow
def test_bf16_mixed_precision_runs(data, tmp_path):
    out = pretrain("denoise-additive", data["nsynth"], tmp_path / "bf16", PretrainConfig(max_epochs=1, precision="bf16-mixed", **TINY))
    assert torch.load(out, weights_only=True)["config"]["precision"] == "bf16-mixed"


@pytest.mark.parametrize("objective", ["align", "denoise-additive"])
def test_cnn_encoder_loss_decreases(data, objective):
    from instrec.pretraining.inputs import objective_tensors

    root = data["freesound" if objective == "align" else "nsynth"]
    train, _, sizes = objective_tensors(objective, root, PretrainConfig(max_train_items=8, max_valid_items=4))
    torch.manual_seed(0)
    module = Stage1(objective, encoder="cnn", width=4, **sizes)
    assert not hasattr(module, "vggish") and module.encode(train[0][:3]).shape == (3, 128)
    losses = _five_steps(module, [t[:8] for t in train], lr=1e-3)
    assert losses[-1] < losses[0], losses


def test_pretrained_cnn_starts_stage_2(data, tmp_path):
    """`pretrain --set encoder=cnn` writes cnn.pt (the encoder's weights and the per-band statistics it was trained
    with); `train --set architecture=cnn --set init=...` starts from exactly those weights; a file that does not
    fit the network, or is no encoder, is one clear error."""
    from instrec.config import TrainConfig
    from instrec.training import load_pretrained_encoder, new_classifier

    config = PretrainConfig(max_epochs=1, encoder="cnn", width=4, **TINY)
    out = pretrain("align", data["freesound"], tmp_path / "run", config)
    assert out.name == "cnn.pt" and not (tmp_path / "run" / "vggish.pt").exists()
    saved = torch.load(out, weights_only=True)
    assert set(saved["norm_stats"]) == {"minimum", "maximum"} and saved["norm_stats"]["minimum"].shape == (64,)
    assert all(k.startswith(("convs.", "project.")) for k in saved["cnn"])
    model = new_classifier(TrainConfig(architecture="cnn", width=4, init=str(out)), 64, 20)
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved["cnn"].items())
    fresh = new_classifier(TrainConfig(architecture="cnn", width=4), 64, 20)
    assert not torch.equal(fresh.state_dict()["convs.0.weight"], saved["cnn"]["convs.0.weight"])
    with pytest.raises(InstrecError, match="does not fit this network .* same --set width"):
        new_classifier(TrainConfig(architecture="cnn", width=8, init=str(out)), 64, 20)
    with pytest.raises(InstrecError, match="pre-trained encoder not found"):
        load_pretrained_encoder(fresh, tmp_path / "missing.pt")
    torch.save({"vggish": {}}, tmp_path / "other.pt")
    with pytest.raises(InstrecError, match="holds no CNN encoder"):
        load_pretrained_encoder(fresh, tmp_path / "other.pt")
    with pytest.raises(InstrecError, match="architecture cnn only"):
        TrainConfig(init=str(out))


def test_planted_pickle_as_last_ckpt_is_one_line_and_never_runs(data, tmp_path, capsys):
    """A run folder's checkpoints/last.ckpt that holds a pickle of code: the resume is refused in one line, and the
    code does not run."""
    from tests.test_security import _plant

    target = tmp_path / "ran.txt"
    _plant(tmp_path / "run" / "checkpoints" / "last.ckpt", target)
    from instrec.cli import main

    argv = ["pretrain", "--objective", "denoise-additive", "--dataset", str(data["nsynth"]), "--out",
            str(tmp_path / "run"), "--set", "max_epochs=1", "--set", "max_train_items=8", "--set", "max_valid_items=4"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "last.ckpt: not a checkpoint that can be read safely" in err[0], err
    assert not target.exists()
