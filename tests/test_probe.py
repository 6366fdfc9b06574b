"""instrec.probe: a linear probe on real recordings beside the network's head, and the gate that lets it speak
where one instrument plays alone (train-default --probe)."""

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


def test_library_weights_give_each_library_of_a_class_the_same_say_and_the_class_its_count():
    from instrec.probe import fit, library_weights, probe_probs

    labels = ["voice"] * 6 + ["piano"] * 3 + [""] * 2
    libs = ["letters"] * 5 + ["sung"] + ["grand"] * 2 + ["epiano"] + ["neg"] * 2
    w = library_weights(labels, libs)
    assert w[:5].sum() == pytest.approx(3.0) and w[5] == pytest.approx(3.0)  # voice: 6 rows, two libraries
    assert w[6:8].sum() == pytest.approx(1.5) and w[8] == pytest.approx(1.5)
    np.testing.assert_allclose(w[9:], 1.0)
    # in the fit, each row counts with its weight (the class balance kept on top)
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 3))
    y = (x[:, :1] + rng.normal(size=(60, 1)) > 0.5).astype(np.float32)
    weight = np.where(np.arange(60) < 10, 5.0, 1.0)
    fitted = fit(x, y, sample_weight=weight)[:2]
    z = StandardScaler().fit(x).transform(x)
    reference = LogisticRegression(class_weight="balanced", max_iter=2000).fit(z, y[:, 0] >= 0.5, sample_weight=weight)
    np.testing.assert_allclose(probe_probs(*fitted, x)[:, 0], reference.predict_proba(z)[:, 1], atol=1e-6)
    assert not np.allclose(probe_probs(*fitted, x), probe_probs(*fit(x, y)[:2], x), atol=2e-3)


@pytest.fixture(scope="module")
def stage_model(module_tmp):
    """The shipped model's networks and head alone (its probe and gate taken off)."""
    from instrec.predict import SHIPPED
    from instrec.probe import networks_only

    return networks_only(SHIPPED, module_tmp.mktemp("stage") / "model")


def test_networks_only_takes_the_probe_off_and_keeps_the_rest(stage_model):
    from instrec.convnet import Probed
    from instrec.predict import SHIPPED, load_model

    shipped, stage = load_model(SHIPPED), load_model(stage_model)
    assert isinstance(shipped.classifier, Probed) and not isinstance(stage.classifier, Probed)
    card = json.loads((stage_model / "model.json").read_text())
    assert "probe" not in card and card["real_stage"] == shipped.bundle["real_stage"]
    assert (stage.file_rule, stage.threshold, stage.input_level) == (shipped.file_rule, shipped.threshold,
                                                                     shipped.input_level)
    assert shipped.floor is not None and stage.floor is None  # the floor needs the gate, which went with the probe
    for a, b in zip(stage.classifier.parameters(), shipped.classifier.encoder.parameters()):
        assert torch.equal(a, b)


@pytest.fixture(scope="module")
def probed(module_tmp, stage_model):
    """The stage model with a probe fitted on stand-in recordings of two libraries and two no-instrument clips."""
    from instrec.datasets.synth import negatives
    from instrec.probe import attach, training_recordings
    from instrec.real_stage import clip_logmel

    root = module_tmp.mktemp("rec")
    _fake_recordings(root, ["francoiswnel.Ukulele", "wcgbg.solfege-samples"])
    items = training_recordings(root, ())
    noise = np.stack([clip_logmel(negatives.tone(f, 10.0) * 0.5) for f in (440.0, 1000.0)])
    out = attach(stage_model, module_tmp.mktemp("model") / "probed", items, noise)
    return out, items


def test_the_probed_model_blends_only_the_classes_the_probe_learned(probed, stage_model):
    from instrec.predict import load_model
    from instrec.probe import BLEND, recording_windows

    out, items = probed
    card = json.loads((out / "model.json").read_text())
    assert card["model_args"]["architecture"] == "probed" and "gate" not in card["model_args"]
    assert card["probe"]["classes"] == ["ukulele", "voice"] and card["probe"]["recordings"] == len(items) == 8
    assert card["probe"]["no_instrument_clips"] == 2 and card["probe"]["gate"] is None
    assert card["real_stage"] == json.loads((stage_model / "model.json").read_text())["real_stage"]  # kept
    model, stage = load_model(out), load_model(stage_model)
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


def test_recorded_notes_teach_the_probe_a_class_no_library_has(tmp_path, stage_model):
    """attach(notes=...): notes given as waveforms (a sample set's, real_stage.bank_notes) are read as recordings of
    their class; the card counts them apart from the libraries' recordings."""
    from instrec.predict import load_model
    from instrec.probe import attach, training_recordings
    from instrec.real_stage import clip_logmel
    from instrec.datasets.synth import negatives

    root = tmp_path / "rec"
    _fake_recordings(root, ["francoiswnel.Ukulele"])
    items = training_recordings(root, ())
    noise = np.stack([clip_logmel(negatives.tone(440.0, 10.0) * 0.5)])
    notes = [(_note(f, 1.5), SAMPLE_RATE, "flute") for f in (523.0, 587.0, 659.0, 784.0)]
    out = attach(stage_model, tmp_path / "probed", items, noise, notes=notes)
    card = json.loads((out / "model.json").read_text())
    assert card["probe"]["notes"] == 4 and card["probe"]["recordings"] == len(items) == 4
    assert card["probe"]["classes"] == ["flute", "ukulele"]
    model, stage = load_model(out), load_model(stage_model)
    flute = model.classes.index("flute")
    tone = _note(698.0, 1.5)
    assert model.predict(tone, sample_rate=SAMPLE_RATE).probs[flute] != pytest.approx(
        stage.predict(tone, sample_rate=SAMPLE_RATE).probs[flute], abs=1e-3)


def test_one_instrument_is_one_present_with_every_class_labelled():
    from instrec.probe import one_instrument

    y = np.array([[1, 0, 0], [1, 1, 0], [1, 1, 0], [0, 0, 0], [1, 0, 1], [0, 1, 0]], np.float32)
    mask = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1], [1, 1, 1], [1, 1, 0], [0, 1, 1]], bool)
    # one of three labelled: one; one labelled present and an unlabelled class (stored as 1, as the rendered clips
    # store mandolin and ukulele): not; two present: not; none: not; the other rows have an unlabelled class: not
    assert one_instrument(y, mask).tolist() == [True, False, False, False, False, False]


def _gate_clips(classes):
    """Stage-like clips: three single notes (ukulele), three chords of two notes (ukulele and voice), two tones with
    every class absent, and one note whose other classes are unlabelled (as a rendered clip: not one alone)."""
    from instrec.datasets.synth import negatives
    from instrec.real_stage import clip_logmel

    uke, voice = classes.index("ukulele"), classes.index("voice")
    x, y, mask = [], [], []
    for i in range(3):
        for audio, present in ((_note(220 + 30 * i, 10.0), [uke]),
                               (_note(220 + 30 * i, 10.0) + _note(350 + 20 * i, 10.0), [uke, voice])):
            x.append(clip_logmel(audio * 0.4))
            y.append(np.isin(np.arange(len(classes)), present))
            mask.append(np.ones(len(classes), bool))
    for f in (500.0, 1500.0):
        x.append(clip_logmel(negatives.tone(f, 10.0) * 0.5))
        y.append(np.zeros(len(classes), bool))
        mask.append(np.ones(len(classes), bool))
    x.append(clip_logmel(_note(260, 10.0) * 0.4))
    y.append(np.isin(np.arange(len(classes)), [uke]))
    mask.append(np.isin(np.arange(len(classes)), [uke]))
    return {"x": np.stack(x), "y": np.stack(y).astype(np.float32), "mask": np.stack(mask)}


def test_the_gate_gives_the_probe_its_share_where_it_hears_one_instrument(tmp_path, stage_model):
    """attach(gate_clips=...): the gate learns on the clips and on the recordings' windows; the exported model gives
    each learned class (1 - BLEND g) head + BLEND g probe, g the gate's probability on the window's mean embedding;
    its timeline is the networks'; a new probe replaces a probed model's own."""
    from instrec.convnet import Probed
    from instrec.datasets.synth import negatives
    from instrec.predict import SHIPPED, load_model
    from instrec.probe import BLEND, attach, recording_windows, training_recordings
    from instrec.real_stage import clip_logmel

    stage = load_model(stage_model)
    root = tmp_path / "rec"
    _fake_recordings(root, ["francoiswnel.Ukulele"])
    items = training_recordings(root, ())
    noise = np.stack([clip_logmel(negatives.tone(440.0, 10.0) * 0.5)])
    clips = _gate_clips(stage.classes)
    out = attach(SHIPPED, tmp_path / "gated", items, noise, gate_clips=clips)  # a probed model: its probe replaced
    card = json.loads((out / "model.json").read_text())
    item_windows = sum(len(recording_windows(stage, path)["lengths"]) for path, _ in items)
    assert card["model_args"]["gate"] is True
    assert card["probe"]["gate"] == {"windows": 9 + item_windows, "one_instrument": 3 + item_windows}
    model = load_model(out)
    assert isinstance(model.classifier, Probed) and not isinstance(model.classifier.encoder, Probed)
    for a, b in zip(model.classifier.encoder.parameters(), stage.classifier.parameters()):
        assert torch.equal(a, b)
    learned = np.isin(model.classes, ["ukulele"])
    probe_w = model.classifier.probe.weight.detach().numpy()
    probe_b = model.classifier.probe.bias.detach().numpy()
    gate_w = model.classifier.gate.weight.detach().numpy()[0]
    gate_b = float(model.classifier.gate.bias.detach().numpy()[0])
    shares = []
    for music in (_note(330, 4.0), _note(330, 4.0) + _note(450, 4.0)):
        windows = recording_windows(stage, music, SAMPLE_RATE)
        assert len(windows["lengths"]) == 1
        g = 1 / (1 + np.exp(-(windows["emb"][0] @ gate_w + gate_b)))
        probe = 1 / (1 + np.exp(-(windows["emb"][0] @ probe_w.T + probe_b)))
        w = np.where(learned, BLEND * g, 0.0)
        got = model.predict(music, sample_rate=SAMPLE_RATE)
        np.testing.assert_allclose(got.probs, (1 - w) * windows["probs"][0] + w * probe, atol=1e-5)
        # the timeline (each example alone) is the networks' own: probe and gate answer for windows
        np.testing.assert_allclose(got.activity, stage.predict(music, sample_rate=SAMPLE_RATE).activity, atol=1e-6)
        shares.append(g)
    assert 0 < shares[1] < 1 and 0 < shares[0] < 1 and shares[0] != pytest.approx(shares[1], abs=1e-3)


def test_a_gate_with_nothing_but_single_instruments_is_refused(tmp_path, stage_model):
    from instrec.errors import InstrecError
    from instrec.probe import attach, training_recordings

    root = tmp_path / "rec"
    _fake_recordings(root, ["francoiswnel.Ukulele"])
    clips = _gate_clips(json.loads((stage_model / "model.json").read_text())["classes"])
    single = (clips["y"].sum(axis=1) == 1) & clips["mask"].all(axis=1)
    only = {k: v[single] for k, v in clips.items()}
    with pytest.raises(InstrecError, match="the gate needs clips that are not one instrument alone"):
        attach(stage_model, tmp_path / "gated", training_recordings(root, ()), only["x"][:0], gate_clips=only)
    assert not (tmp_path / "gated").exists()


def test_a_worn_copy_is_seeded_by_the_recordings_folder_and_name(tmp_path):
    from instrec import params as P
    from instrec.audio import load_audio, resample
    from instrec.probe import worn_copy, worn_key

    note = _note(330.0, 2.0) * 0.5
    a, b = tmp_path / "lib-a" / "C4.wav", tmp_path / "elsewhere" / "lib-a" / "C4.wav"
    for path in (a, b):
        path.parent.mkdir(parents=True)
        sf.write(path, note, SAMPLE_RATE, subtype="FLOAT")
    assert worn_key(a) == worn_key(b) == "lib-a/C4.wav"
    copy = worn_copy(a, None, worn_key(a))
    assert copy.dtype == np.float32 and copy.size == load_audio(a).size
    assert np.array_equal(copy, worn_copy(b, None, worn_key(b)))  # the same copy wherever the library lies
    assert np.array_equal(copy, worn_copy(note, SAMPLE_RATE, "lib-a/C4.wav"))  # a file or its samples
    clean = resample(note.astype(np.float32), SAMPLE_RATE, P.SAMPLE_RATE)
    copies = [worn_copy(note, SAMPLE_RATE, f"lib-a/{k}.wav") for k in range(6)]
    assert all(not np.allclose(c, clean, atol=1e-3) for c in copies)
    assert len({c.tobytes() for c in copies}) == 6


def test_worn_copies_double_what_the_probe_and_gate_learn_and_the_card_says_so(tmp_path, stage_model):
    from instrec.predict import load_model
    from instrec.probe import attach, training_recordings
    from instrec.real_stage import clip_logmel
    from instrec.datasets.synth import negatives

    root = tmp_path / "rec"
    _fake_recordings(root, ["francoiswnel.Ukulele", "wcgbg.solfege-samples"])
    items = training_recordings(root, ())
    noise = np.stack([clip_logmel(negatives.tone(440.0, 10.0) * 0.5)])
    notes = [(_note(f, 1.5), SAMPLE_RATE, "flute") for f in (523.0, 659.0)]
    classes = load_model(stage_model).classes
    clips = _gate_clips(classes)
    plain = attach(stage_model, tmp_path / "plain", items, noise, notes=notes, gate_clips=clips)
    worn = attach(stage_model, tmp_path / "worn", items, noise, notes=notes, gate_clips=clips, copies=("worn",))
    a, b = (json.loads((p / "model.json").read_text())["probe"] for p in (plain, worn))
    assert "worn_copies" not in a and b["worn_copies"] is True
    assert (b["recordings"], b["notes"]) == (a["recordings"], a["notes"]) == (len(items), 2)
    assert b["windows"] - b["no_instrument_clips"] == 2 * (a["windows"] - a["no_instrument_clips"])
    assert b["gate"]["one_instrument"] - a["gate"]["one_instrument"] == a["windows"] - a["no_instrument_clips"]
    tone = _note(392.0, 2.0)
    assert not np.allclose(load_model(worn).predict(tone, sample_rate=SAMPLE_RATE).probs,
                           load_model(plain).predict(tone, sample_rate=SAMPLE_RATE).probs, atol=1e-4)
    # two kinds of copy: each item and note learned three times; the card names the kinds
    both = attach(stage_model, tmp_path / "both", items, noise, notes=notes, gate_clips=clips,
                  copies=("pitched", "rerecorded"))
    c = json.loads((both / "model.json").read_text())["probe"]
    assert c["copies"] == ["pitched", "rerecorded"] and "worn_copies" not in c and "copies" not in b
    assert c["windows"] - c["no_instrument_clips"] == 3 * (a["windows"] - a["no_instrument_clips"])
    assert c["gate"]["one_instrument"] - a["gate"]["one_instrument"] == 2 * (a["windows"] - a["no_instrument_clips"])
    from instrec.errors import InstrecError

    with pytest.raises(InstrecError, match="no copy of the kind louder; the kinds are worn, pitched, rerecorded"):
        attach(stage_model, tmp_path / "bad", items, noise, notes=notes, copies=("louder",))
    assert not (tmp_path / "bad").exists()


def _frequency(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), 8 * len(x)))
    return float(np.argmax(spectrum)) * rate / (8 * len(x))


def test_a_pitched_copy_is_one_to_three_semitones_away_and_seeded_by_its_key(tmp_path):
    from instrec import params as P
    from instrec.probe import pitched_copy

    tone = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(2 * P.SAMPLE_RATE) / P.SAMPLE_RATE)).astype(np.float32)
    shifts = []
    for k in range(12):
        copy = pitched_copy(tone, P.SAMPLE_RATE, f"lib/{k}.wav")
        semitones = 12 * np.log2(_frequency(copy, P.SAMPLE_RATE) / 440.0)
        assert 0.95 <= abs(semitones) <= 3.05, semitones
        # pitch and length move together, as a tape played faster or slower
        assert abs(len(copy) / len(tone) - 2.0 ** (-semitones / 12)) < 0.01
        shifts.append(semitones)
    assert min(shifts) < 0 < max(shifts)  # up and down
    again = pitched_copy(tone, P.SAMPLE_RATE, "lib/3.wav")
    assert np.array_equal(again, pitched_copy(tone, P.SAMPLE_RATE, "lib/3.wav"))
    path = tmp_path / "lib" / "3.wav"
    path.parent.mkdir()
    sf.write(path, tone, P.SAMPLE_RATE, subtype="FLOAT")
    assert np.allclose(pitched_copy(path, None, "lib/3.wav"), pitched_copy(tone, P.SAMPLE_RATE, "lib/3.wav"),
                       atol=1e-6)


def test_a_rerecorded_copy_adds_no_noise_where_the_worn_copy_does():
    from instrec import params as P
    from instrec.probe import rerecorded_copy, worn_copy

    # a tone after half a second of digital silence: the re-recorded copies keep the silence (room, microphone,
    # compressor, MP3, no noise); a worn copy with noise fills it
    tone = np.zeros(3 * P.SAMPLE_RATE, np.float32)
    tone[P.SAMPLE_RATE // 2:] = 0.5 * np.sin(2 * np.pi * 330.0 * np.arange(5 * P.SAMPLE_RATE // 2) / P.SAMPLE_RATE)
    lead = slice(0, P.SAMPLE_RATE // 4)
    rerecorded = [rerecorded_copy(tone, P.SAMPLE_RATE, f"lib/{k}.wav") for k in range(10)]
    assert all(np.sqrt(np.mean(c[lead] ** 2)) < 1e-4 for c in rerecorded)
    assert len({c.tobytes() for c in rerecorded}) == 10  # each drawn apart
    assert sum(not np.allclose(c, tone, atol=1e-2) for c in rerecorded) >= 8  # another room or microphone
    worn = [worn_copy(tone, P.SAMPLE_RATE, f"lib/{k}.wav") for k in range(10)]
    assert any(np.sqrt(np.mean(c[lead] ** 2)) > 1e-3 for c in worn)


@pytest.mark.parametrize("features", ["both", "pooled"])
def test_a_probe_on_the_pooled_convolution_features(tmp_path, stage_model, features):
    """attach(features=...): probe and gate read the networks' pooled convolution features (the last block's mean
    and maximum per channel, before the map to the embedding), after the embeddings (both) or alone (pooled); the
    networks' head still reads the embeddings alone, and so does the timeline."""
    from instrec.convnet import Probed, embedding_size, pooled_size
    from instrec.datasets.synth import negatives
    from instrec.predict import load_model
    from instrec.probe import BLEND, attach, recording_windows, training_recordings
    from instrec.real_stage import clip_logmel

    stage = load_model(stage_model)
    size, pooled = embedding_size(stage.classifier), pooled_size(stage.classifier)
    assert (size, pooled) == (512, 1024)  # four networks of width 16
    root = tmp_path / "rec"
    _fake_recordings(root, ["francoiswnel.Ukulele"])
    noise = np.stack([clip_logmel(negatives.tone(440.0, 10.0) * 0.5)])
    out = attach(stage_model, tmp_path / "probed", training_recordings(root, ()), noise,
                 gate_clips=_gate_clips(stage.classes), features=features)
    card = json.loads((out / "model.json").read_text())
    assert card["model_args"]["features"] == card["probe"]["features"] == features
    model = load_model(out)
    assert isinstance(model.classifier, Probed) and model.classifier.features == features
    width = size + pooled if features == "both" else pooled
    assert model.classifier.probe.weight.shape == (len(stage.classes), width) == (20, card["model_args"]["embedding"])
    learned = np.isin(model.classes, ["ukulele"])
    probe_w, probe_b = (p.detach().numpy() for p in (model.classifier.probe.weight, model.classifier.probe.bias))
    gate_w, gate_b = (p.detach().numpy() for p in (model.classifier.gate.weight, model.classifier.gate.bias))
    music = _note(330, 4.0)
    windows = recording_windows(stage, music, SAMPLE_RATE)  # the embeddings and the networks' answer
    reading = stage.read(music, SAMPLE_RATE)
    with torch.inference_mode():
        steps = torch.from_numpy(np.ascontiguousarray(reading.steps))[None]
        cells = stage.classifier.embed(steps, pooled=True)[1][0][~torch.from_numpy(reading.silent)].mean(dim=0)
    read = np.concatenate([windows["emb"][0], cells.numpy()]) if features == "both" else cells.numpy()
    assert len(windows["lengths"]) == 1 and read.shape == (width,)
    g = 1 / (1 + np.exp(-(read @ gate_w[0] + gate_b[0])))
    probe = 1 / (1 + np.exp(-(read @ probe_w.T + probe_b)))
    w = np.where(learned, BLEND * g, 0.0)
    got = model.predict(music, sample_rate=SAMPLE_RATE)
    np.testing.assert_allclose(got.probs, (1 - w) * windows["probs"][0] + w * probe, atol=1e-5)
    assert got.probs[learned][0] != pytest.approx(windows["probs"][0][learned][0], abs=1e-3)
    np.testing.assert_allclose(got.activity, stage.predict(music, sample_rate=SAMPLE_RATE).activity, atol=1e-6)


def test_probe_features_not_known_are_refused_in_one_line(tmp_path, stage_model):
    from instrec.errors import InstrecError
    from instrec.probe import attach, training_recordings

    root = tmp_path / "rec"
    _fake_recordings(root, ["francoiswnel.Ukulele"])
    with pytest.raises(InstrecError, match="probe features 'pixels': use one of embedding, pooled, both"):
        attach(stage_model, tmp_path / "bad", training_recordings(root, ()), np.zeros((0, 960, 64)),
               features="pixels")
    assert not (tmp_path / "bad").exists()
