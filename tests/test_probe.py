"""instrec.probe: a linear probe on real recordings beside the network's head (train-default --probe)."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.test_real_stage import SAMPLE_RATE, _fake_recordings, _note


def test_fit_folds_the_standardisation_into_the_weights_and_skips_a_class_it_cannot_learn():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from instrec.probe import fit, probe_probs

    rng = np.random.default_rng(0)
    x = rng.normal(3.0, [0.5, 2.0, 10.0, 1.0], size=(200, 4))
    y = np.stack([x[:, 0] + 0.1 * x[:, 2] > 4, np.zeros(200, bool), x[:, 1] < 2.5], axis=1).astype(np.float32)
    weight, bias, learned = fit(x, y)
    assert learned.tolist() == [True, False, True]
    assert np.all(weight[1] == 0) and bias[1] == 0
    for k in (0, 2):
        reference = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, class_weight="balanced",
                                                                        max_iter=2000)).fit(x, y[:, k] >= 0.5)
        np.testing.assert_allclose(probe_probs(weight, bias, x)[:, k], reference.predict_proba(x)[:, 1], atol=1e-6)


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    """The shipped model with a probe fitted on stand-in recordings of two libraries and two no-instrument clips."""
    from instrec.datasets.synth import negatives
    from instrec.predict import SHIPPED
    from instrec.probe import attach, training_recordings
    from instrec.real_stage import clip_logmel

    root = tmp_path_factory.mktemp("rec")
    _fake_recordings(root, ["francoiswnel.Ukulele", "wcgbg.solfege-samples"])
    items = training_recordings(root, ())
    noise = np.stack([clip_logmel(negatives.tone(f, 10.0) * 0.5) for f in (440.0, 1000.0)])
    out = attach(SHIPPED, tmp_path_factory.mktemp("model") / "probed", items, noise)
    return out, items


def test_the_probed_model_blends_only_the_classes_the_probe_learned(probed):
    from instrec.predict import SHIPPED, load_model
    from instrec.probe import BLEND, recording_windows

    out, items = probed
    card = json.loads((out / "model.json").read_text())
    assert card["model_args"]["architecture"] == "probed"
    assert card["probe"]["classes"] == ["ukulele", "voice"] and card["probe"]["recordings"] == len(items) == 8
    assert card["probe"]["no_instrument_clips"] == 2
    assert card["real_stage"] == json.loads((SHIPPED / "model.json").read_text())["real_stage"]  # its record kept
    model, stage = load_model(out), load_model(SHIPPED)
    assert (model.file_rule, model.threshold, model.input_level) == (stage.file_rule, stage.threshold,
                                                                     stage.input_level)
    music = _note(330, 4.0)
    mine, theirs = model.predict(music, sample_rate=SAMPLE_RATE), stage.predict(music, sample_rate=SAMPLE_RATE)
    learned = np.isin(model.classes, ["ukulele", "voice"])
    np.testing.assert_allclose(mine.probs[~learned], theirs.probs[~learned], atol=1e-6)
    # a learned class: the head's probability and the probe's on the window's mean embedding, half each
    windows = recording_windows(stage, music, SAMPLE_RATE)
    weight = model.classifier.probe.weight.detach().numpy()
    bias = model.classifier.probe.bias.detach().numpy()
    probe = 1 / (1 + np.exp(-(windows["emb"] @ weight.T + bias)))
    expected = (1 - BLEND) * windows["probs"] + BLEND * probe
    assert len(windows["lengths"]) == 1
    np.testing.assert_allclose(mine.probs[learned], expected[0][learned], atol=1e-5)
    assert not np.allclose(mine.probs[learned], theirs.probs[learned], atol=1e-3)


def test_the_stage_and_train_audio_start_from_a_probed_model(probed, tmp_path):
    """The real stage trains the networks inside a probed model (its probe is left behind: fitted to the old
    embeddings); train-audio keeps a probed model's answers for the classes it does not relearn."""
    from instrec.bundle import load_exported
    from instrec.convnet import Ensemble, Probed

    from instrec.datasets.synth import synth_dataset
    from instrec.real_stage import Stage, run_stage

    out, _ = probed
    classifier, _ = load_exported(out)
    assert isinstance(classifier, Probed) and isinstance(classifier.encoder, Ensemble)
    dataset = synth_dataset("openmic", tmp_path / "om", size=8, seed=3, workers=1, labels="full")
    root = tmp_path / "rec"
    _fake_recordings(root, ["francoiswnel.Ukulele"])
    stage = Stage(real_clips=4, overlay_clips=1, rendered_clips=1, negative_clips=1, negative_overlays=1, epochs=1,
                  members=(0, 1))
    staged, _ = load_exported(run_stage(out, tmp_path / "stage", stage, dataset, recordings_root=root))
    assert isinstance(staged, Ensemble) and len(staged.members) == 2  # the networks, trained; no stale probe
    assert not torch.equal(staged.members[0].project[0].weight, classifier.encoder.members[0].project[0].weight)
    from instrec.cli import main

    folder = tmp_path / "mine"
    folder.mkdir()
    rng = np.random.default_rng(1)
    rows = []
    for i in range(4):
        sf.write(folder / f"a{i}.wav", _note(200 + 30 * i, 2.0) * rng.uniform(0.5, 1), SAMPLE_RATE)
        sf.write(folder / f"b{i}.wav", rng.normal(0, 0.1, 2 * SAMPLE_RATE).astype(np.float32), SAMPLE_RATE)
        rows += [f"a{i}.wav,hum_tone\n", f"b{i}.wav,\n"]
    (folder / "labels.csv").write_text("file,instruments\n" + "".join(rows))
    adapted = tmp_path / "adapted"
    assert main(["train-audio", "--audio", str(folder), "--out", str(adapted), "--base", str(out),
                 "--folds", "2", "--epochs", "2"]) == 0
    from instrec.predict import load_model

    mine, base = load_model(adapted), load_model(out)
    music = _note(330, 3.0)
    kept = [c for c in mine.classes if c in base.classes]
    np.testing.assert_allclose(mine.predict(music, sample_rate=SAMPLE_RATE).probs[:len(kept)],
                               base.predict(music, sample_rate=SAMPLE_RATE).probs[[base.classes.index(c) for c in kept]],
                               atol=1e-6)


def test_recorded_notes_teach_the_probe_a_class_no_library_has(tmp_path):
    """attach(notes=...): notes given as waveforms (a sample set's, real_stage.bank_notes) are read as recordings of
    their class; the card counts them apart from the libraries' recordings."""
    from instrec.predict import SHIPPED, load_model
    from instrec.probe import attach, training_recordings
    from instrec.real_stage import clip_logmel
    from instrec.datasets.synth import negatives

    root = tmp_path / "rec"
    _fake_recordings(root, ["francoiswnel.Ukulele"])
    items = training_recordings(root, ())
    noise = np.stack([clip_logmel(negatives.tone(440.0, 10.0) * 0.5)])
    notes = [(_note(f, 1.5), SAMPLE_RATE, "flute") for f in (523.0, 587.0, 659.0, 784.0)]
    out = attach(SHIPPED, tmp_path / "probed", items, noise, notes=notes)
    card = json.loads((out / "model.json").read_text())
    assert card["probe"]["notes"] == 4 and card["probe"]["recordings"] == len(items) == 4
    assert card["probe"]["classes"] == ["flute", "ukulele"]
    model, stage = load_model(out), load_model(SHIPPED)
    flute = model.classes.index("flute")
    tone = _note(698.0, 1.5)
    assert model.predict(tone, sample_rate=SAMPLE_RATE).probs[flute] != pytest.approx(
        stage.predict(tone, sample_rate=SAMPLE_RATE).probs[flute], abs=1e-3)
