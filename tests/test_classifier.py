import numpy as np
import pytest
import torch

from instrec.classifier import AttentionClassifier, masked_bce
from instrec.config import TrainConfig, apply_overrides
from instrec.errors import InstrecError
from instrec.training import SplitData, load_bundle, train_classifier


@pytest.mark.parametrize("variant,dim,steps", [("paper", 128, 10), ("reference", 128, 10), ("paper", 64, 960)])
def test_outputs_in_range_and_attention_sums_to_one(variant, dim, steps):
    torch.manual_seed(0)
    model = AttentionClassifier(dim, 20, variant=variant).eval()
    out = model(torch.randn(4, steps, dim) * 3)
    assert out["probs"].shape == (4, 20) and out["attention"].shape == out["activity"].shape == (4, steps, 20)
    assert (out["probs"] >= 0).all() and (out["probs"] <= 1).all()
    assert (out["activity"] >= 0).all() and (out["activity"] <= 1).all()
    torch.testing.assert_close(out["attention"].sum(dim=1), torch.ones(4, 20))


def test_reference_variant_has_attention_mic_parameter_count():
    assert sum(p.numel() for p in AttentionClassifier(variant="reference").parameters()) == 55_336


def test_masked_entries_get_no_gradient():
    probs = torch.rand(8, 5, requires_grad=True)
    labels = (torch.rand(8, 5) > 0.5).float()
    mask = torch.rand(8, 5) > 0.5
    loss = masked_bce(probs, labels, mask)
    loss.backward()
    assert torch.all(probs.grad[~mask] == 0) and torch.all(probs.grad[mask] != 0)
    expected = torch.nn.functional.binary_cross_entropy(probs[mask], labels[mask])
    torch.testing.assert_close(loss, expected)


def _separable(n, seed, dim=16, classes=3):
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, classes, generator=g) > 0.5).float()
    x = torch.rand(n, 10, dim, generator=g) * 0.1
    x[:, :, :classes] += y[:, None, :]  # class c present <=> feature c high at every step
    mask = torch.rand(n, classes, generator=g) < 0.7
    return SplitData(x, y, mask, [str(i) for i in range(n)])


def test_learns_a_separable_problem(tmp_path):
    config = TrainConfig(epochs=40, batch_size=32, lr=5e-3, hidden=32, groups=4)
    result = train_classifier(_separable(256, 0), _separable(64, 1), config, tmp_path)
    assert result["best_val_f1_macro"] == 1.0
    model, bundle = load_bundle(tmp_path)
    assert bundle["epoch"] == result["best_epoch"] and bundle["model_args"]["input_dim"] == 16
    assert (tmp_path / "log.csv").read_text().count("\n") == 41


def test_resume_gives_the_same_weights(tmp_path):
    config = TrainConfig(epochs=6, batch_size=16, lr=1e-3, hidden=16, groups=4, variant="reference", dropout=0.3)
    train, val = _separable(96, 2), _separable(32, 3)
    train_classifier(train, val, config, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train_classifier(train, val, config, tmp_path / "resumed", stop_after_epochs=3)
    train_classifier(train, val, config, tmp_path / "resumed")
    whole = torch.load(tmp_path / "whole" / "checkpoints" / "last.pt", weights_only=False)
    resumed = torch.load(tmp_path / "resumed" / "checkpoints" / "last.pt", weights_only=False)
    for key, value in whole["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, rtol=0, atol=0)
    assert whole["state"]["history"] == resumed["state"]["history"]
    with pytest.raises(InstrecError, match="another config"):
        train_classifier(train, val, TrainConfig(epochs=7), tmp_path / "resumed")


def test_config_overrides():
    config = apply_overrides(TrainConfig(), ["epochs=3", "lr=0.01", "strict_threshold=true", "variant=reference"])
    assert (config.epochs, config.lr, config.strict_threshold, config.variant) == (3, 0.01, True, "reference")
    for bad in (["epochs=three"], ["nope=1"], ["epochs"]):
        with pytest.raises(InstrecError):
            apply_overrides(TrainConfig(), bad)


def test_same_seed_same_numbers(tmp_path):
    config = TrainConfig(epochs=3, batch_size=16, hidden=16, groups=4)
    a = train_classifier(_separable(64, 4), _separable(16, 5), config, tmp_path / "a")
    b = train_classifier(_separable(64, 4), _separable(16, 5), config, tmp_path / "b")
    assert a["best_val_f1_macro"] == b["best_val_f1_macro"]
    wa = load_bundle(tmp_path / "a")[1]["state_dict"]
    wb = load_bundle(tmp_path / "b")[1]["state_dict"]
    assert all(np.array_equal(wa[k].numpy(), wb[k].numpy()) for k in wa)
