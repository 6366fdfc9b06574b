import dataclasses

import numpy as np
import pytest
import torch

from instrec.classifier import AttentionClassifier, masked_bce
from instrec.config import TrainConfig, apply_overrides
from instrec.errors import InstrecError
from instrec.training import SplitData, load_bundle, scheduled_lr, train_classifier


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


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_resume_gives_the_same_weights(tmp_path, interrupt_after, schedule):
    config = TrainConfig(epochs=6, batch_size=16, lr=1e-3, hidden=16, groups=4, variant="reference", dropout=0.3,
                         lr_schedule=schedule)
    train, val = _separable(96, 2), _separable(32, 3)
    train_classifier(train, val, config, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train_classifier(train, val, config, tmp_path / "resumed", after_epoch=interrupt_after(3))
    train_classifier(train, val, config, tmp_path / "resumed")
    whole = torch.load(tmp_path / "whole" / "checkpoints" / "last.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed" / "checkpoints" / "last.pt", weights_only=True)
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


def _perturbed(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.2)
    return model


@pytest.mark.parametrize("dim,hidden,groups,steps", [(128, 128, 16, 10), (64, 128, 16, 96), (16, 32, 4, 10)])
def test_fused_paper_loss_equals_autograd_through_the_modules(dim, hidden, groups, steps):
    torch.manual_seed(1)
    model = _perturbed(AttentionClassifier(dim, 20, hidden=hidden, groups=groups), 2)
    x, labels, mask = torch.randn(12, steps, dim), (torch.rand(12, 20) > 0.5).float(), torch.rand(12, 20) < 0.4
    reference = masked_bce(model(x)["probs"], labels, mask)
    expected = torch.autograd.grad(reference, list(model.parameters()))
    out = model(x, labels, mask)
    assert out["loss"].grad_fn is not None and "PaperAttentionLoss" in type(out["loss"].grad_fn).__name__
    torch.testing.assert_close(out["loss"], reference, rtol=1e-5, atol=1e-6)
    modules = model(x)  # gradients on: the plain module composition
    with torch.no_grad():
        fast = model(x)  # inference: the shared hand-written forward
    for key in ("probs", "attention", "activity"):
        torch.testing.assert_close(fast[key], modules[key], rtol=1e-5, atol=1e-6, msg=key)
    torch.testing.assert_close(out["probs"], modules["probs"], rtol=1e-5, atol=1e-6)
    got = torch.autograd.grad(out["loss"], list(model.parameters()))
    for (name, _), g, e in zip(model.named_parameters(), got, expected):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6, msg=name)


def test_fused_paper_loss_passes_gradcheck_in_float64():
    torch.manual_seed(3)
    model = _perturbed(AttentionClassifier(6, 3, hidden=8, groups=2), 4).double()
    x, labels, mask = torch.randn(3, 4, 6, dtype=torch.float64), (torch.rand(3, 3) > 0.5).double(), torch.rand(3, 3) < 0.7
    names = [name for name, _ in model.named_parameters()]

    def loss(*values):
        return torch.func.functional_call(model, dict(zip(names, values)), (x, labels, mask))["loss"]

    assert torch.autograd.gradcheck(loss, tuple(p.detach().clone().requires_grad_() for p in model.parameters()))


def test_the_reference_variant_loss_is_masked_bce():
    torch.manual_seed(5)
    model = AttentionClassifier(128, 20, variant="reference").eval()
    x, labels, mask = torch.randn(6, 10, 128), (torch.rand(6, 20) > 0.5).float(), torch.rand(6, 20) < 0.4
    out = model(x, labels, mask)
    torch.testing.assert_close(out["loss"], masked_bce(model(x)["probs"], labels, mask))
    with pytest.raises(ValueError, match="mask"):
        model(x, labels)


def test_cosine_schedule_falls_from_lr_to_zero():
    config = TrainConfig(lr=2e-3, lr_schedule="cosine")
    rates = [scheduled_lr(config, step, 100) for step in range(101)]
    assert rates[0] == 2e-3 and rates[100] == 0.0 and rates[50] == pytest.approx(1e-3)
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert scheduled_lr(TrainConfig(lr=2e-3), 77, 100) == 2e-3
    with pytest.raises(InstrecError, match="lr_schedule"):
        apply_overrides(TrainConfig(), ["lr_schedule=linear"])


def test_cosine_run_steps_with_the_scheduled_rate(tmp_path):
    """The optimizer's last step used the schedule's rate for the run's last batch, and the weights differ
    from a constant-rate run with the same seed."""
    train, val = _separable(96, 2), _separable(32, 3)
    runs = {}
    for schedule in ("constant", "cosine"):
        config = TrainConfig(epochs=3, batch_size=16, lr=1e-2, hidden=16, groups=4, lr_schedule=schedule)
        train_classifier(train, val, config, tmp_path / schedule)
        runs[schedule] = torch.load(tmp_path / schedule / "checkpoints" / "last.pt", weights_only=True)
    steps = 96 // 16
    assert runs["constant"]["optimizer"]["param_groups"][0]["lr"] == 1e-2
    last = runs["cosine"]["optimizer"]["param_groups"][0]["lr"]
    assert last == pytest.approx(scheduled_lr(config, 3 * steps - 1, 3 * steps)) and 0 < last < 1e-3
    assert any(not torch.equal(runs["cosine"]["model"][k], v) for k, v in runs["constant"]["model"].items())


def test_a_checkpoint_written_before_a_setting_existed_resumes(tmp_path, interrupt_after):
    """A ``last.pt`` whose config lacks a setting added later (here lr_schedule) resumes under its default."""
    config = TrainConfig(epochs=4, batch_size=16, hidden=16, groups=4)
    train, val = _separable(64, 4), _separable(32, 5)
    train_classifier(train, val, config, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train_classifier(train, val, config, tmp_path / "old", after_epoch=interrupt_after(2))
    last = tmp_path / "old" / "checkpoints" / "last.pt"
    saved = torch.load(last, weights_only=True)
    del saved["config"]["lr_schedule"]
    torch.save(saved, last)
    train_classifier(train, val, config, tmp_path / "old")
    whole = torch.load(tmp_path / "whole" / "checkpoints" / "last.pt", weights_only=True)
    resumed = torch.load(last, weights_only=True)
    assert whole["state"]["history"] == resumed["state"]["history"]
    with pytest.raises(InstrecError, match="another config"):
        train_classifier(train, val, dataclasses.replace(config, lr_schedule="cosine"), tmp_path / "old")
