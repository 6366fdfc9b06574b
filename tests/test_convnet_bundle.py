"""The compact CNN (end to end on log-mel), exported model folders, and the file-level decision."""

import json

import numpy as np
import pytest
import torch

from instrec.bundle import CARD, TENSORS, export_model, load_exported
from instrec.config import TrainConfig
from instrec.convnet import ConvAttentionClassifier, build_classifier
from instrec.errors import InstrecError
from instrec.predict import file_probability
from instrec.training import SplitData, crop_batch, train_classifier


def _split(n, seed, examples=4):
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, 3, generator=g) < 0.4).float()
    x = torch.rand(n, examples * 96, 64, generator=g) * 0.2
    x[:, :, :16] += y[:, :1, None]  # class 0 lights the low bands, class 1 the high ones
    x[:, :, 48:] += y[:, 1:2, None]
    return SplitData(x, y, torch.ones_like(y, dtype=torch.bool), [str(i) for i in range(n)])


def test_cnn_learns_end_to_end_and_its_gradients_reach_the_convolutions(tmp_path):
    model = ConvAttentionClassifier(num_classes=3, width=4)
    data = _split(4, 0)
    out = model(data.x, data.y, data.mask)
    out["loss"].backward()
    assert model.convs[0].weight.grad is not None and model.convs[0].weight.grad.abs().sum() > 0
    assert out["probs"].shape == (4, 3)
    config = TrainConfig(epochs=12, batch_size=8, lr=3e-3, architecture="cnn", width=4, crop_examples=2)
    result = train_classifier(_split(48, 1), _split(24, 2), config, tmp_path / "run",
                              {"representation": {"name": "logmel", "key": "logmel", "postprocess": "norm"},
                               "classes": ["low", "high", "none"], "trained_classes": [True] * 3})
    assert result["best_val_f1_macro"] > 0.7  # the two band classes are learnt


def test_crop_batch_takes_whole_examples():
    x = torch.arange(2 * 10 * 3, dtype=torch.float32).view(2, 10, 3)
    g = torch.Generator().manual_seed(0)
    crops = [crop_batch(x, 2, 2, g) for _ in range(20)]
    assert all(c.shape == (2, 4, 3) for c in crops)
    assert all(int(c[0, 0, 0]) % 6 == 0 for c in crops)  # starts on an example boundary (2 steps x 3 values)
    assert crop_batch(x, 0, 2, g) is x and crop_batch(x, 5, 2, g) is x


def test_crop_batch_with_shift_starts_at_any_step_and_stays_inside():
    x = torch.arange(2 * 10 * 3, dtype=torch.float32).view(2, 10, 3)  # 5 examples of 2 steps
    g = torch.Generator().manual_seed(0)
    starts = set()
    for _ in range(200):
        c = crop_batch(x, 2, 2, g, shift=True)
        assert c.shape == (2, 4, 3)
        starts.add(int(c[0, 0, 0]) // 3)  # the first step's index
    assert starts == set(range(7))  # every step from 0 to 10 - 4, odd ones (mid-example) included
    # without shift the draws are those of before (runs trained before keep their numbers)
    a, b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert all(torch.equal(crop_batch(x, 2, 2, a), crop_batch(x, 2, 2, b, shift=False)) for _ in range(10))


def test_crop_shift_makes_training_runs_start_at_any_frame(tmp_path, monkeypatch):
    import instrec.training as training

    starts = []
    real = training.crop_batch

    def recording(x, examples, per, generator, min_examples=0, shift=False):
        out = real(x, examples, per, generator, min_examples, shift)
        # where the run starts in the clip: the first frame of x equal to the run's first frame
        starts.append(next(i for i in range(x.shape[1]) if torch.equal(x[:, i], out[:, 0])))
        return out

    monkeypatch.setattr(training, "crop_batch", recording)
    extra = {"representation": {"name": "logmel", "key": "logmel", "postprocess": "norm"},
             "classes": ["low", "high", "none"], "trained_classes": [True] * 3}
    for shift in (False, True):
        starts.clear()
        config = TrainConfig(epochs=3, batch_size=2, architecture="cnn", width=4, crop_examples=2, crop_shift=shift)
        train_classifier(_split(16, 1), _split(8, 2), config, tmp_path / f"run-{shift}", extra)
        off_example = [s % 96 for s in starts if s % 96]
        assert len(starts) == 24 and (len(off_example) > 12 if shift else not off_example)
    with pytest.raises(InstrecError, match="crop_shift=True: needs crop_examples"):
        TrainConfig(crop_shift=True)


def test_crop_batch_draws_the_length_between_the_bounds():
    x = torch.arange(2 * 10 * 3, dtype=torch.float32).view(2, 10, 3)
    g = torch.Generator().manual_seed(0)
    lengths = [crop_batch(x, 3, 1, g, min_examples=1).shape[1] for _ in range(60)]
    assert set(lengths) == {1, 2, 3}
    # without a lower bound the draws are those of a fixed length (runs trained before keep their numbers)
    fixed, again = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert all(torch.equal(crop_batch(x, 3, 1, fixed), crop_batch(x, 3, 1, again, min_examples=3)) for _ in range(10))
    with pytest.raises(InstrecError, match="crop_min_examples=2: needs crop_examples of at least"):
        TrainConfig(crop_examples=1, crop_min_examples=2)


def _exported(tmp_path):
    torch.manual_seed(0)
    model = ConvAttentionClassifier(num_classes=3, width=4).eval()
    bundle = {"representation": {"name": "logmel", "key": "logmel", "postprocess": "norm", "output_shape": [96, 64]},
              "classes": ["a", "b", "c"], "trained_classes": [True, True, False], "config": {"threshold": 0.5},
              "norm_stats": {"min": np.zeros(64, np.float32), "max": np.ones(64, np.float32)}}
    return model, export_model(model, bundle, tmp_path / "model")


def test_export_round_trip_and_integrity(tmp_path):
    model, folder = _exported(tmp_path)
    loaded, bundle = load_exported(folder)
    x = torch.rand(2, 3 * 96, 64)
    with torch.inference_mode():
        np.testing.assert_array_equal(loaded(x)["probs"].numpy(), model(x)["probs"].numpy())
    assert bundle["classes"] == ["a", "b", "c"] and bundle["trained_classes"] == [True, True, False]
    np.testing.assert_array_equal(bundle["norm_stats"]["max"], np.ones(64))
    data = bytearray((folder / TENSORS).read_bytes())
    data[-1] ^= 1
    (folder / TENSORS).write_bytes(bytes(data))
    with pytest.raises(InstrecError, match="sha256 differs"):
        load_exported(folder)


def test_convolutions_run_channels_last_before_and_after_a_round_trip(tmp_path):
    """The one-channel input cannot fix the layout; the weights must, or every layer runs channels-first (slower)."""
    model, folder = _exported(tmp_path)
    loaded, _ = load_exported(folder)
    for network in (model, loaded, build_classifier(model.args)):
        seen = []
        hooks = [layer.register_forward_hook(lambda _m, _i, out: seen.append(out))
                 for layer in network.convs if isinstance(layer, torch.nn.Conv2d)]
        with torch.inference_mode():
            network(torch.rand(2, 3 * 96, 64))
        for hook in hooks:
            hook.remove()
        assert len(seen) == 4
        assert all(out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous() for out in seen)


def test_export_refuses_nan_and_load_refuses_foreign_cards(tmp_path):
    model, folder = _exported(tmp_path)
    card = json.loads((folder / CARD).read_text())
    (folder / CARD).write_text(json.dumps({**card, "format": "something-else"}))
    with pytest.raises(InstrecError, match="not an instrec model"):
        load_exported(folder)
    (folder / CARD).write_text("{not json")
    with pytest.raises(InstrecError, match="not a readable model description"):
        load_exported(folder)
    with torch.no_grad():
        model.head.classes.bias[0] = float("nan")
    with pytest.raises(InstrecError, match="NaN"):
        export_model(model, {"representation": {"name": "logmel"}, "classes": [], "trained_classes": [],
                             "config": {"threshold": 0.5}}, tmp_path / "nan")
    assert not (tmp_path / "nan" / TENSORS).exists()


def test_build_classifier_from_args():
    cnn = ConvAttentionClassifier(num_classes=5, width=4)
    assert isinstance(build_classifier(cnn.args), ConvAttentionClassifier)
    rebuilt = build_classifier(cnn.args)
    assert sum(p.numel() for p in rebuilt.parameters()) == sum(p.numel() for p in cnn.parameters())


def test_file_probability_rules():
    windows = np.array([[0.9, 0.1], [0.2, 0.1], [0.1, 0.7], [0.1, 0.1]])
    lengths = np.array([10, 10, 10, 2])
    np.testing.assert_allclose(file_probability(windows, lengths, "max"), [0.9, 0.7])
    np.testing.assert_allclose(file_probability(windows, lengths, "mean"), [(9 + 2 + 1 + 0.2) / 32, (1 + 1 + 7 + 0.2) / 32])
    np.testing.assert_allclose(file_probability(windows, lengths, "top3"), [0.4, 0.3])
    np.testing.assert_allclose(file_probability(windows, lengths, "top-third"), [0.55, 0.4])  # top 2 of 4
    with pytest.raises(InstrecError, match="file rule"):
        file_probability(windows, lengths, "median")


def test_choose_threshold_maximises_validation_f1():
    from instrec.default_model import choose_threshold

    rng = np.random.default_rng(0)
    labels = (rng.random((200, 4)) < 0.1).astype(np.float32)
    probs = np.clip(0.3 * labels + 0.2 * rng.random((200, 4)), 0, 1)  # positives around 0.3-0.5, negatives below 0.2
    threshold, scores = choose_threshold(probs, labels, np.ones_like(labels, bool))
    assert threshold in (0.2, 0.25, 0.3) and scores[f"{threshold:.2f}"] == max(scores.values())
    assert scores["0.50"] < scores[f"{threshold:.2f}"]


def test_train_default_recipe_end_to_end(tmp_path):
    """The recipe on a toy scale: render with a held-out bank, train the CNN, export, score; rerunning resumes."""
    import dataclasses
    import shutil

    from instrec.weights import sha256_of as sha256
    from instrec.datasets.synth.render import default_soundfont
    from instrec.config import TrainConfig
    from instrec.default_model import Recipe, check_finished_member, train_default
    from instrec.evaluation import evaluate_openmic_test
    from instrec.predict import load_model

    other = tmp_path / "otherbank.sf2"
    shutil.copy(default_soundfont(), other)
    recipe = dataclasses.replace(Recipe(), size=24, epochs=1, hold_out_bank="otherbank", members=("", "mix=0.5"),
                                 base="scratch", real_stage=False)
    scores = train_default(tmp_path / "out", recipe, pool=[default_soundfont(), other])
    card = json.loads((tmp_path / "out" / "model" / "model.json").read_text())
    assert card["sha256"] == sha256(tmp_path / "out" / "model" / "model.safetensors")
    assert card["model_args"]["architecture"] == "ensemble" and card["recipe"]["size"] == 24
    assert [m["config"]["mix"] for m in card["members"]] == [0.0, 0.5]  # the recipe's members, each trained apart
    assert 0.1 <= card["threshold"] <= 0.9 and scores["test"]["files"] > 0
    model = load_model(tmp_path / "out" / "model")
    assert card["input_level"] == model.input_level == scores["input_level"] == "fixed"  # the rule travels with it
    # the recipe's held-out score is the one a user of the export measures, level rule included
    held_out = evaluate_openmic_test(model, tmp_path / "out" / "data")
    keys = ("f1_macro", "map", "files")
    assert {k: held_out[k] for k in keys} == {k: scores["test"][k] for k in keys}
    assert model.predict(np.full(16000, 0.1) * np.sin(np.arange(16000)), sample_rate=16000).probs.shape == (20,)
    stamps = [(tmp_path / "out" / run / "best.pt").stat().st_mtime_ns for run in ("run", "run-1")]
    assert train_default(tmp_path / "out", recipe, pool=[default_soundfont(), other]) == scores
    assert [(tmp_path / "out" / run / "best.pt").stat().st_mtime_ns for run in ("run", "run-1")] == stamps  # resumed
    # a changed recipe does not ship the old networks: a finished member trained otherwise is refused
    with pytest.raises(InstrecError, match="run-1: was trained with mix=0.5, but the recipe's member 'mix=0.25' has "
                                           "mix=0.25; delete"):
        train_default(tmp_path / "out", dataclasses.replace(recipe, members=("", "mix=0.25")),
                      pool=[default_soundfont(), other])
    written = TrainConfig(**json.loads((tmp_path / "out" / "run" / "config.json").read_text()))
    check_finished_member(tmp_path / "out" / "run", dataclasses.replace(written, device="cuda", num_threads=2), "")
    with pytest.raises(InstrecError, match="member 'mix=lots': mix=lots: expected a float"):
        train_default(tmp_path / "bad", dataclasses.replace(recipe, members=("", "mix=lots")),
                      pool=[default_soundfont(), other])
    assert not (tmp_path / "bad").exists()  # refused before rendering anything


def _members(seed_a=0, seed_b=1):
    members = []
    for seed in (seed_a, seed_b):
        torch.manual_seed(seed)
        members.append(ConvAttentionClassifier(num_classes=3, width=4).eval())
    return members


def _ensemble_of(members):
    from instrec.convnet import Ensemble

    ensemble = Ensemble([m.args for m in members])
    for target, member in zip(ensemble.members, members):
        target.load_state_dict(member.state_dict())
    return ensemble.eval()


def _logmel_bundle(low, high):
    return {"representation": {"name": "logmel", "key": "logmel", "postprocess": "norm", "output_shape": [96, 64]},
            "classes": ["a", "b", "c"], "trained_classes": [True] * 3, "config": {"threshold": 0.5},
            "norm_stats": {"minimum": np.full(64, low, np.float32), "maximum": np.full(64, high, np.float32)}}


def test_ensemble_averages_its_members_and_round_trips(tmp_path):
    from instrec.convnet import Ensemble

    members = _members()
    ensemble = _ensemble_of(members)
    x = torch.rand(2, 4 * 96, 64)
    with torch.inference_mode():
        out = ensemble(x)
        expected = [m(x) for m in members]
        embedded = ensemble.head(ensemble.embed(x))
    for key in ("probs", "attention", "activity"):
        torch.testing.assert_close(out[key], (expected[0][key] + expected[1][key]) / 2)
        torch.testing.assert_close(embedded[key], out[key])
    assert not torch.allclose(expected[0]["probs"], expected[1]["probs"])  # two different members
    assert len(ensemble.state_dict()) == 2 * len(members[0].state_dict())  # heads are not stored twice
    loaded, _ = load_exported(export_model(ensemble, _logmel_bundle(0.0, 1.0), tmp_path / "model"))
    with torch.inference_mode():
        np.testing.assert_array_equal(loaded(x)["probs"].numpy(), out["probs"].numpy())
    with pytest.raises(ValueError, match="assembled from trained members"):
        ensemble(x, torch.ones(2, 3), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="two or more compact CNN"):
        Ensemble([members[0].args])


def test_predict_with_an_ensemble_is_the_mean_of_its_members(tmp_path):
    """One window (3 s): the file probability of the ensemble equals the mean of the members' own predictions."""
    from instrec.predict import Model

    members = _members()
    bundle = _logmel_bundle(-12.0, 3.0)
    folders = [export_model(m, bundle, tmp_path / f"m{i}") for i, m in enumerate([*members, _ensemble_of(members)])]
    rng = np.random.default_rng(0)
    audio = (0.3 * np.sin(2 * np.pi * 440 * np.arange(48000) / 16000) + 0.05 * rng.standard_normal(48000)).astype(np.float32)
    probs = [Model(folder).predict(audio, sample_rate=16000).probs for folder in folders]
    np.testing.assert_allclose(probs[2], (probs[0] + probs[1]) / 2, rtol=1e-5, atol=1e-6)


def test_assemble_refuses_members_trained_on_other_features(tmp_path):
    from instrec.bundle import save_run_bundle
    from instrec.default_model import assemble

    runs = []
    for i, (member, store) in enumerate(zip(_members(), ["features/a", "features/b"])):
        runs.append(tmp_path / f"run{i}")
        runs[-1].mkdir()
        save_run_bundle(runs[-1] / "best.pt", {
            "model_args": member.args, "state_dict": member.state_dict(), "classes": ["a", "b", "c"],
            "trained_classes": [True] * 3, "store": store, "dataset": "data", "config": {"threshold": 0.5},
            "representation": {"name": "logmel", "key": "logmel", "postprocess": "norm"},
            "norm_stats": {"min": np.zeros(64, np.float32), "max": np.ones(64, np.float32)}})
    with pytest.raises(InstrecError, match="run1: was trained on other features"):
        assemble(runs)
    classifier, bundle = assemble(runs[:1])
    assert classifier.args["architecture"] == "cnn" and "members" not in bundle


def _swa_run(tmp_path, name, config, after_epoch=None, seen=None):
    def record(done):
        if seen is not None:
            seen[done] = torch.load(tmp_path / name / "checkpoints" / "last.pt", weights_only=True)["model"]
        if after_epoch is not None:
            after_epoch(done)
    extra = {"representation": {"name": "logmel", "key": "logmel", "postprocess": "norm"},
             "classes": ["low", "high", "none"], "trained_classes": [True] * 3}
    train_classifier(_split(16, 1), _split(8, 2), config, tmp_path / name, extra, after_epoch=record)
    return torch.load(tmp_path / name / "best.pt", weights_only=True)


def test_swa_keeps_the_mean_of_the_last_epochs_weights_with_fresh_batch_norm(tmp_path, interrupt_after):
    config = TrainConfig(epochs=4, batch_size=32, lr=3e-3, architecture="cnn", width=4, crop_examples=2, swa_epochs=2)
    seen = {}
    bundle = _swa_run(tmp_path, "whole", config, seen=seen)
    assert bundle["averaged_epochs"] == 2 and bundle["epoch"] == 3
    best = torch.load(tmp_path / "whole" / "best-epoch.pt", weights_only=True)  # kept beside it
    assert best["state_dict"].keys() == bundle["state_dict"].keys() and "averaged_epochs" not in best
    for key, value in best["state_dict"].items():
        torch.testing.assert_close(value, seen[best["epoch"] + 1][key], rtol=0, atol=0)
    model = ConvAttentionClassifier(num_classes=3, width=4)
    params = {name for name, _ in model.named_parameters()}
    for name in params:  # the mean of epochs 3 and 4, not any one epoch's
        torch.testing.assert_close(bundle["state_dict"][name], (seen[3][name] + seen[4][name]) / 2)
    assert any(not torch.equal(bundle["state_dict"][n], seen[4][n]) for n in params)
    model.load_state_dict(bundle["state_dict"])
    examples = _split(16, 1).x.reshape(-1, 1, 96, 64)  # one batch of every training clip: its exact mean
    with torch.no_grad():
        torch.testing.assert_close(model.convs[1].running_mean, model.convs[0](examples).mean(dim=(0, 2, 3)))
    with pytest.raises(KeyboardInterrupt):  # stopped after averaging began: the resumed run ends the same
        _swa_run(tmp_path, "resumed", config, after_epoch=interrupt_after(3))
    resumed = _swa_run(tmp_path, "resumed", config)
    for key, value in bundle["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][key], value, rtol=0, atol=0)
    assert resumed["best_val_f1_macro"] == bundle["best_val_f1_macro"]
    with pytest.raises(InstrecError, match="swa_epochs=5: at most the 4 epochs"):
        TrainConfig(epochs=4, swa_epochs=5)
