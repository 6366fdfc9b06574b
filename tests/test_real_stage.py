"""Real parts in rendered clips, sounds that are no instrument, and the real-recording training stage."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from instrec.datasets import recordings
from instrec.datasets.classes import OPENMIC_CLASSES
from instrec.datasets.synth import negatives
from instrec.datasets.synth.parts import SAMPLE_RATE, Source, play_part, real_clip

CLASSES = list(OPENMIC_CLASSES)


def _note(freq: float, seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (np.sin(2 * np.pi * freq * t) * np.exp(-3 * t)).astype(np.float32)


def _sources() -> list[Source]:
    guitar = Source("guitar", "lib.guitar", "g", [_note(f) for f in (196, 247, 294, 330)], [f"g{i}" for i in range(4)])
    voice = Source("voice", "lib.voice", "v", phrases=[_note(300, 2.0), _note(350, 1.2)], phrase_names=["hello", "yes"])
    drums = Source("drums", "lib.kit", "k", [_note(60, 0.3), _note(180, 0.2)], ["kick", "snare"])
    return [guitar, voice, drums]


def test_a_clip_with_a_real_phrase_records_it_in_the_metadata():
    rng = np.random.default_rng(0)
    seen = False
    for _ in range(30):
        audio, labels, meta = real_clip(_sources(), rng, CLASSES)
        assert audio.shape == (10 * SAMPLE_RATE,) and np.isfinite(audio).all() and np.abs(audio).max() <= 1.0
        present = {p["label"] for p in meta["parts"]}
        assert {c for c, y in zip(CLASSES, labels) if y} == present  # full labels: exactly the parts' classes
        assert len(present) == {"solo": 1, "duo": 2, "band": 3}[meta["arrangement"]]
        for part in meta["parts"]:
            assert part["events"] and all(0 <= e["start_s"] < 10 for e in part["events"])
            if part["style"] == "phrases":
                seen = True
                assert {e["file"] for e in part["events"]} <= {"hello", "yes"}
                starts = [e["start_s"] for e in part["events"]]
                assert starts == sorted(starts)  # phrases follow one another, with pauses
    assert seen


@pytest.mark.parametrize("style", ["oneshot", "melody", "chords", "strum", "held", "arpeggio", "tremolo", "bassline", "beat"])
def test_every_style_plays_the_source_notes_in_time(style):
    source = _sources()[0]
    audio, meta = play_part(source, np.random.default_rng(1), 6.0, style=style)
    assert meta["style"] == style and audio.shape == (6 * SAMPLE_RATE,)
    onsets = sorted({e["start_s"] for e in meta["events"]})
    assert len(onsets) >= 3 and onsets[-1] > 3.0  # the part goes on through the clip
    assert {e["file"] for e in meta["events"]} <= set(source.note_names)
    assert np.abs(audio).max() > 0.1


def test_negatives_are_finite_and_the_test_set_names_the_issue_signals():
    rng = np.random.default_rng(0)
    for kind in negatives.KINDS:
        audio, params = negatives.negative(kind, rng, seconds=3.0)
        assert params["kind"] == kind and audio.shape == (3 * SAMPLE_RATE,)
        assert np.isfinite(audio).all() and np.isclose(np.abs(audio).max(), 1.0, atol=1e-5)
    signals = negatives.test_signals(seconds=2.0)
    assert {"sine-440Hz", "sweep-50Hz-8kHz", "dtmf-digits", "hum-50Hz", "pink-noise", "applause"} <= set(signals)
    # the sine really is 440 Hz; the sweep covers the band from low to high
    spectrum = np.abs(np.fft.rfft(signals["sine-440Hz"]))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / (2 * len(spectrum) - 2) - 440) < 2
    sweep = signals["sweep-50Hz-8kHz"]
    first, last = (np.argmax(np.abs(np.fft.rfft(part))) for part in (sweep[:1600], sweep[-1600:]))
    assert first < last


def _fake_recordings(root, libraries):
    """Generated audio at the manifest paths of a few files of ``libraries`` (a stand-in for the real ones)."""
    rows = [r for r in recordings.read_manifest() if r.library in libraries]
    chosen = []
    for library in libraries:
        chosen += [r for r in rows if r.library == library][:4]
    for i, r in enumerate(chosen):
        path = root / r.path
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), _note(150 + 40 * i, 1.0), SAMPLE_RATE, format="FLAC" if path.suffix == ".flac" else None)
    return chosen


def test_the_stage_trains_and_exports_a_model_that_predicts(tmp_path):
    from instrec.datasets.synth import synth_dataset
    from instrec.predict import load_model
    from instrec.real_stage import Stage, run_stage

    dataset = synth_dataset("openmic", tmp_path / "om", size=12, seed=3, workers=1, labels="full")
    root = tmp_path / "rec"
    _fake_recordings(root, ["francoiswnel.Ukulele", "sfzinstruments.ganjo"])
    stage = Stage(real_clips=8, overlay_clips=3, rendered_clips=3, negative_clips=3, negative_overlays=2, epochs=1,
                  members=(0, 1), recording_files=1)
    out = run_stage(None, tmp_path / "stage", stage, dataset, recordings_root=root)
    card = json.loads((out / "model.json").read_text())
    # 19 clips played from the recordings, rendered and negative; one recording of each library as it is
    assert card["real_stage"]["clips"] == 21 and card["real_stage"]["clip_types"]["recording"] == 2
    assert card["real_stage"]["members"] == [0, 1] and card["real_stage"]["recording_files"] == 1
    trained = dict(zip(card["classes"], card["trained_classes"]))
    assert trained["ukulele"] and trained["banjo"] and not trained["mandolin"]
    model = load_model(out)
    prediction = model.predict(_note(440, 3.0), sample_rate=SAMPLE_RATE)
    assert prediction.probs.shape == (20,) and np.isfinite(prediction.probs).all()
    # cached: a second run reuses the clips and the trained members, giving the same weights
    again = run_stage(None, tmp_path / "stage", stage, dataset, recordings_root=root)
    assert json.loads((again / "model.json").read_text())["sha256"] == card["sha256"]
    assert len(list((tmp_path / "stage").glob("member-*.pt"))) == 2
    # a changed setting trains its own members in the same folder, never the cached ones of another
    other = run_stage(None, tmp_path / "stage", dataclasses.replace(stage, lr=3e-4), dataset, recordings_root=root)
    assert json.loads((other / "model.json").read_text())["sha256"] != card["sha256"]
    assert len(list((tmp_path / "stage").glob("member-*.pt"))) == 4
    assert len(list((tmp_path / "stage").glob("clips-*.npz"))) == 1


def test_training_a_member_lowers_its_loss_on_the_clips():
    from instrec.convnet import ConvAttentionClassifier
    from instrec.real_stage import Stage, train_member

    torch.manual_seed(0)
    net = ConvAttentionClassifier(num_classes=3, width=4)
    x = torch.rand(16, 960, 64).half()
    y = (torch.arange(16)[:, None] % 3 == torch.arange(3)).float()
    x[:, :, :20] += y[:, :1, None].half()  # class 0 is loud in the low bands
    mask = torch.ones_like(y, dtype=torch.bool)
    with torch.no_grad():
        before = float(net.eval()(x.float(), y, mask)["loss"])
    trained = train_member(net, x, y, mask, Stage(epochs=15, lr=3e-3, batch_size=8), seed=0)
    with torch.no_grad():
        after = float(trained(x.float(), y, mask)["loss"])
    assert after < before


def _fake_sample_set(cache: Path) -> None:
    """A stand-in for the fetched tonejs bank: two recorded violin notes (program 40)."""
    from instrec.datasets.synth.samplebank import Preset, Zone, write_sf2

    (cache / "soundfonts").mkdir(parents=True)
    zones = tuple(Zone(str(key), (_note(freq, 1.0) * 16000).astype(np.int16), SAMPLE_RATE, key, low, high)
                  for freq, key, low, high in ((196, 55, 0, 56), (262, 60, 57, 127)))
    write_sf2(cache / "soundfonts" / "tonejs-instruments-1.sf2", "tonejs", [Preset("violin", 40, 0, zones)])


@pytest.mark.parametrize("probe", ["", "always", "gated", "gated+mandolin", "gated+synthesizer", "gated+worn",
                                   "gated+freepats", "gated+timgm6mb", "gated+stage-freepats"])
def test_the_recipe_from_the_base_networks_with_the_real_stage(tmp_path, probe, monkeypatch):
    """train-default's default path on a toy scale: the shipped base networks, the real stage (with the recorded
    notes of the tonejs bank), export, score; with a ``probe``, the stage's model goes to stage-model/ and model/ is
    it with the probe fitted beside it (and with "gated", the default, the gate); "+mandolin": with the modelled
    mandolin in the stage, and its pieces in the probe; "+worn": the probe and gate learn worn copies too;
    "+freepats": the probe and gate learn a further set of recorded notes (Recipe.probe_notes), the stage does not."""
    import dataclasses
    import shutil

    from instrec.datasets.synth import mandolin
    from instrec.datasets.synth import modelled as modelled_
    from instrec.datasets.synth.render import default_soundfont
    from instrec.default_model import Recipe, base_model_path, recorded_recipe, train_default
    from instrec.predict import load_model

    monkeypatch.setenv("INSTREC_CACHE", str(tmp_path / "cache"))
    _fake_sample_set(tmp_path / "cache")
    probe, _, extra = probe.partition("+")
    modelled, worn = ("" if extra in ("worn", "freepats", "timgm6mb", "stage-freepats") else extra), extra == "worn"
    probe_notes = (extra,) if extra in ("freepats", "timgm6mb") else ()  # timgm6mb: played (pretty_midi's copy)
    stage_notes = ("freepats",) if extra == "stage-freepats" else ()  # the stand-in's note played in the stage
    if "freepats" in extra:  # a stand-in for the FreePats bank: one flute note (program 73)
        from instrec.datasets.synth.samplebank import Preset, Zone, write_sf2

        flute = Zone("72", (_note(523.0, 1.0) * 16000).astype(np.int16), SAMPLE_RATE, 72, 0, 127)
        write_sf2(tmp_path / "cache" / "soundfonts" / "freepats-1.sf2", "fp", [Preset("flute", 73, 0, (flute,))])
    if modelled == "synthesizer":
        from instrec.datasets.synth import synthesizer

        monkeypatch.setattr(synthesizer, "PRESETS", 2)
        monkeypatch.setattr(modelled_, "PROBE_PIECES", 3)
    elif modelled:
        from tests.test_mandolin import _bodies

        sf.write(str(mandolin.bodies_path()), np.round(_bodies().T * 8000).astype(np.int16), mandolin.RAW_RATE,
                 subtype="PCM_16")
        monkeypatch.setattr(modelled_, "PROBE_PIECES", 3)
    other = tmp_path / "otherbank.sf2"
    shutil.copy(default_soundfont(), other)
    root = tmp_path / "rec"
    _fake_recordings(root, ["francoiswnel.Ukulele", "wcgbg.solfege-samples"])
    recipe = dataclasses.replace(Recipe(), size=16, hold_out_bank="otherbank", real_clips=6, overlay_clips=2,
                                 rendered_clips=2, negative_clips=2, negative_overlays=1, stage_epochs=1,
                                 threshold=0.35, file_rule="top-third", probe=probe,
                                 modelled=(modelled,) if modelled else (), probe_worn=worn,
                                 modelled_solos=2 if modelled == "synthesizer" else 0, probe_notes=probe_notes,
                                 more_recorded_notes=stage_notes, floor=None if not probe else Recipe().floor)
    scores = train_default(tmp_path / "out", recipe, pool=[default_soundfont(), other], recordings_root=root)
    card = json.loads((tmp_path / "out" / "model" / "model.json").read_text())
    assert card["recipe"] == json.loads(json.dumps(recorded_recipe(recipe)))
    assert card["command"] == "instrec train-default" and card["threshold"] == 0.35
    assert card["floor"] == recipe.floor and load_model(tmp_path / "out" / "model").floor == recipe.floor
    assert card["base"]["sha256"] == json.loads((base_model_path() / "model.json").read_text())["sha256"]
    # 13 clips played, rendered and negative, the 8 stand-in recordings as they are (Recipe.recording_files) and the
    # bank's 2 recorded notes (Recipe.recorded_notes)
    solos = 2 if modelled == "synthesizer" else 0  # and the synthesizer's solo clips (Stage.modelled_solos)
    more = len(stage_notes)  # and the further set's one note (Recipe.more_recorded_notes)
    assert card["real_stage"]["clips"] == 23 + solos + more and card["real_stage"]["clip_types"]["recording"] == 8
    assert card["real_stage"]["clip_types"].get("modelled-solo", 0) == solos
    assert card["recipe"].get("modelled_solos", 0) == solos
    assert card["real_stage"]["clip_types"]["note"] == 2 + more
    assert card["input_level"] == "fixed"
    assert (card["model_args"]["architecture"] == "probed") == bool(probe)
    assert card["model_args"].get("gate", False) == (probe == "gated")
    assert (tmp_path / "out" / "stage-model" / "model.json").exists() == bool(probe)
    trained = dict(zip(card["classes"], card["trained_classes"]))
    assert trained["mandolin"] == (modelled == "mandolin")
    assert card["real_stage"].get("modelled", []) == ([modelled] if modelled else [])
    if modelled == "synthesizer":  # its presets in the stage's clips; its pieces in the probe, with the usual share
        assert {p["library"] for m in json.loads(next((tmp_path / "out" / "real").glob("clips-*.json")).read_text())
                for p in m.get("parts", [])} & {"synth.lead-0", "synth.pad-1"}
        assert card["probe"]["notes"] == 2 + 3 and card["probe"]["modelled"] == ["synthesizer"]
        assert "synthesizer" in card["probe"]["classes"]
        blend = load_model(tmp_path / "out" / "model").classifier.blend
        assert blend[CLASSES.index("synthesizer")] == 0.5
    elif probe and modelled:  # the 3 modelled pieces join the notes, the probe learns the mandolin, with its whole say
        assert card["probe"]["notes"] == 2 + 3 and card["probe"]["modelled"] == ["mandolin"]
        assert card["probe"]["classes"] == ["mandolin", "ukulele", "violin", "voice"]
        blend = load_model(tmp_path / "out" / "model").classifier.blend
        assert blend[CLASSES.index("mandolin")] == 1.0 and blend[CLASSES.index("violin")] == 0.5
    elif probe_notes == ("freepats",):  # the further note joins the probe's notes and classes; the stage played the
        # 2 tonejs notes only
        assert card["probe"]["notes"] == 2 + 1 and card["recipe"]["probe_notes"] == ["freepats"]
        assert card["probe"]["classes"] == ["flute", "ukulele", "violin", "voice"]
    elif probe_notes:  # a General MIDI SoundFont's notes played (real_stage.played_notes): every class it plays
        from instrec.real_stage import bank_notes

        played = bank_notes("timgm6mb")
        assert card["probe"]["notes"] == 2 + len(played) and card["recipe"]["probe_notes"] == ["timgm6mb"]
        assert set(card["probe"]["classes"]) == {label for *_, label in played} | {"ukulele", "violin", "voice"}
    elif stage_notes:  # the stage played the stand-in's flute note after the tonejs notes; the probe never heard it
        meta = json.loads(next((tmp_path / "out" / "real").glob("recordings-*.json")).read_text())
        assert [(m["bank"], m["class"]) for m in meta if m["type"] == "note"][-1] == ("freepats", "flute")
        assert card["recipe"]["more_recorded_notes"] == ["freepats"] and "flute" not in card["probe"]["classes"]
    elif probe:  # learned from the 8 stand-in recordings, the 2 notes and the stage's 2 no-instrument clips
        assert card["probe"]["recordings"] == 8 and card["probe"]["no_instrument_clips"] == 2
        assert card["probe"]["notes"] == 2 and card["probe"]["classes"] == ["ukulele", "violin", "voice"]
        assert "probe_notes" not in card["recipe"]  # a recipe without them records what it did before
    if probe == "gated":  # and on the stage's clips whose count is known, beside the recordings' and notes' windows
        gate = card["probe"]["gate"]
        assert gate["windows"] > gate["one_instrument"] >= 10
        # with worn copies: every recording and note heard twice, the copies counted as one instrument alone
        assert card["probe"].get("worn_copies", False) == worn and ("probe_worn" in card["recipe"]) == worn
        singles = card["probe"]["windows"] - card["probe"]["no_instrument_clips"]
        assert gate["one_instrument"] >= (singles if worn else 10)
    model = load_model(tmp_path / "out" / "model")
    assert model.file_rule == "top-third" and model.threshold == 0.35  # the chosen rules travel with the model
    assert scores["test"]["files"] > 0 and scores["threshold"] == 0.35
    assert train_default(tmp_path / "out", recipe, pool=[default_soundfont(), other], recordings_root=root) == scores
    if probe_notes == ("freepats",):  # the finished stage is reused when only the probe's notes change; another
        # stage's is refused
        from instrec.errors import InstrecError

        fewer = dataclasses.replace(recipe, probe_notes=())
        train_default(tmp_path / "out", fewer, pool=[default_soundfont(), other], recordings_root=root)
        card = json.loads((tmp_path / "out" / "model" / "model.json").read_text())
        assert card["probe"]["notes"] == 2 and card["recipe"] == json.loads(json.dumps(recorded_recipe(fewer)))
        assert "copies" not in card["probe"] and "probe_copies" not in card["recipe"]
        # and when the probe learns pitched copies too: every recording and note twice, the stage reused
        pitched = dataclasses.replace(fewer, probe_copies=("pitched",))
        train_default(tmp_path / "out", pitched, pool=[default_soundfont(), other], recordings_root=root)
        copied = json.loads((tmp_path / "out" / "model" / "model.json").read_text())
        assert copied["probe"]["copies"] == ["pitched"] and copied["recipe"]["probe_copies"] == ["pitched"]
        assert copied["probe"]["windows"] - copied["probe"]["no_instrument_clips"] == \
            2 * (card["probe"]["windows"] - card["probe"]["no_instrument_clips"])
        # and when the probe reads the pooled convolution features beside the embeddings: the stage reused again
        assert "probe_features" not in copied["recipe"] and "features" not in copied["model_args"]
        pooled = dataclasses.replace(fewer, probe_features="both")
        train_default(tmp_path / "out", pooled, pool=[default_soundfont(), other], recordings_root=root)
        read = json.loads((tmp_path / "out" / "model" / "model.json").read_text())
        assert read["recipe"]["probe_features"] == read["model_args"]["features"] == read["probe"]["features"] == "both"
        assert read["model_args"]["embedding"] == 3 * 512 and read["base"] == card["base"]
        with pytest.raises(InstrecError, match="probe features 'cells': use one of embedding, pooled, both"):
            train_default(tmp_path / "out", dataclasses.replace(fewer, probe_features="cells"),
                          pool=[default_soundfont(), other], recordings_root=root)
        with pytest.raises(InstrecError, match=r"stage-model: trained by another recipe \(stage_epochs differ\)"):
            train_default(tmp_path / "out", dataclasses.replace(fewer, stage_epochs=2),
                          pool=[default_soundfont(), other], recordings_root=root)


def test_the_recipe_refuses_missing_recordings_before_rendering(tmp_path):
    from instrec.default_model import Recipe, train_default
    from instrec.errors import InstrecError

    with pytest.raises(InstrecError, match="no real recordings there; run `instrec recordings fetch`"):
        train_default(tmp_path / "out", Recipe(), pool=[], recordings_root=tmp_path / "empty")
    assert not (tmp_path / "out").exists()


def test_probe_notes_not_a_set_the_held_out_bank_or_without_a_probe_are_refused_in_one_line(tmp_path, capsys):
    from instrec.cli import main

    assert main(["train-default", "--out", str(tmp_path / "a"), "--probe-notes", "avldrums-blackpearl"]) != 0
    said = capsys.readouterr().err.strip()
    assert "probe notes 'avldrums-blackpearl': not a set of recorded notes (use one of: " in said
    offered = said.split("use one of: ")[1].rstrip(")").split(", ")
    assert {"tonejs", "freepats", "fluidr3"} <= set(offered) and "csound" not in offered  # csound: held out
    assert len(said.splitlines()) == 1
    assert main(["train-default", "--out", str(tmp_path / "a"), "--probe-notes", "csound"]) != 0
    said = capsys.readouterr().err.strip()
    assert "probe notes 'csound': the recipe's held-out bank" in said and len(said.splitlines()) == 1
    assert main(["train-default", "--out", str(tmp_path / "a"), "--more-recorded-notes", "fluidr3"]) != 0
    said = capsys.readouterr().err.strip()
    assert "more recorded notes 'fluidr3': not a set of recorded notes (use one of: tonejs, freepats" in said
    assert len(said.splitlines()) == 1
    assert main(["train-default", "--out", str(tmp_path / "a"), "--no-real-stage", "--more-recorded-notes",
                 "freepats"]) != 0
    assert "more recorded notes are played in the real stage" in capsys.readouterr().err
    assert main(["train-default", "--out", str(tmp_path / "b"), "--probe", "none", "--probe-notes", "freepats"]) != 0
    assert "probe notes are learned by the probe" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_train_real_command_exports_a_model_that_holds_out_a_fold(tmp_path, capsys):
    from instrec.cli import main
    from instrec.datasets.synth import synth_dataset
    from instrec.real_stage import FOLDS

    dataset = synth_dataset("openmic", tmp_path / "om", size=10, seed=4, workers=1, labels="full")
    root = tmp_path / "rec"
    _fake_recordings(root, ["francoiswnel.Ukulele", "sfzinstruments.ganjo"])  # fold A and fold B libraries
    out = tmp_path / "stage"
    assert main(["train-real", "--dataset", str(dataset), "--recordings", str(root), "--out", str(out),
                 "--real-clips", "4", "--overlay-clips", "1", "--rendered-clips", "1", "--negative-clips", "1",
                 "--epochs", "1", "--hold-out-fold", "A", "--threshold", "0.3"]) == 0
    assert "exported" in capsys.readouterr().out
    card = json.loads((out / "model" / "model.json").read_text())
    assert card["threshold"] == 0.3 and card["real_stage"]["hold_out"] == list(FOLDS["A"])
    meta = json.loads(next(out.glob("clips-*.json")).read_text())
    libraries = {p["library"] for m in meta if m["type"] == "real" for p in m["parts"]}
    assert libraries == {"sfzinstruments.ganjo"}  # the held-out fold's ukulele never played


def test_recording_clips_are_the_recordings_as_they_are_per_library_and_cached(tmp_path):
    from instrec.real_stage import FIXTURE_FILES, Stage, recording_clips

    root = tmp_path / "rec"
    written = _fake_recordings(root, ["francoiswnel.Ukulele", "sfzinstruments.ganjo"])
    classes = list(OPENMIC_CLASSES)
    assert recording_clips(tmp_path / "w", Stage(), classes, root) is None  # off by default
    stage = Stage(recording_files=3)
    clips = recording_clips(tmp_path / "w", stage, classes, root)
    usable = {lib: [r.path for r in written if r.library == lib and r.path not in FIXTURE_FILES]
              for lib in ("francoiswnel.Ukulele", "sfzinstruments.ganjo")}
    assert len(clips["x"]) == sum(min(3, len(v)) for v in usable.values())
    assert clips["x"].shape[1:] == (960, 64) and clips["mask"].all()
    for meta, y in zip(clips["meta"], clips["y"]):
        assert meta["type"] == "recording" and meta["path"] in usable[meta["library"]]
        label = {"francoiswnel.Ukulele": "ukulele", "sfzinstruments.ganjo": "banjo"}[meta["library"]]
        assert y.sum() == 1 and y[classes.index(label)] == 1
    again = recording_clips(tmp_path / "w", stage, classes, root)
    assert np.array_equal(again["x"], clips["x"]) and len(list((tmp_path / "w").glob("recordings-*.npz"))) == 1
    held = recording_clips(tmp_path / "w", Stage(recording_files=3, hold_out=("sfzinstruments.ganjo",)), classes, root)
    assert {m["library"] for m in held["meta"]} == {"francoiswnel.Ukulele"}


def test_recording_clips_take_a_sample_sets_notes_per_class(tmp_path, monkeypatch):
    """Stage.note_bank: up to recording_files recorded notes of each class of the bank join the recordings, each
    from its start, labelled with its class alone; the libraries' clips are the same as without them."""
    from instrec.datasets.synth import soundfonts
    from instrec.datasets.synth.samplebank import Preset, Zone, write_sf2
    from instrec.real_stage import Stage, _settings, recording_clips

    monkeypatch.setitem(soundfonts.BANKS, "testset", soundfonts.Bank("testset", "testset-1.sf2", "npm: test-*", "",
                                                                     (), "testset", "CC0", default=False, kind="npm"))
    monkeypatch.setenv("INSTREC_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "soundfonts").mkdir(parents=True)

    def zone(freq: float, key: int) -> Zone:
        return Zone(str(key), (_note(freq, 1.0) * 16000).astype(np.int16), SAMPLE_RATE, key, 0, 127)

    write_sf2(tmp_path / "cache" / "soundfonts" / "testset-1.sf2", "testset",
              [Preset("violin", 40, 0, tuple(zone(f, k) for f, k in ((196, 55), (220, 57), (247, 59), (262, 60)))),
               Preset("flute", 73, 0, (zone(523, 72),))])
    root = tmp_path / "rec"
    _fake_recordings(root, ["francoiswnel.Ukulele"])
    classes = list(OPENMIC_CLASSES)
    plain = recording_clips(tmp_path / "w", Stage(recording_files=3), classes, root)
    clips = recording_clips(tmp_path / "w", Stage(recording_files=3, note_bank="testset"), classes, root)
    notes = [m for m in clips["meta"] if m["type"] == "note"]
    assert sorted(m["class"] for m in notes) == ["flute", "violin", "violin", "violin"]
    assert np.array_equal(clips["x"][:len(plain["x"])], plain["x"])  # the libraries' clips unchanged
    for meta, y in zip(clips["meta"][len(plain["x"]):], clips["y"][len(plain["x"]):]):
        assert y.sum() == 1 and y[classes.index(meta["class"])] == 1
    assert len(list((tmp_path / "w").glob("recordings-*.npz"))) == 2  # cached apart
    # Stage.more_note_banks: a further set's notes after the first set's, as many per class; what came before the
    # same, and a stage without further sets keeps its settings (and so its caches' names)
    monkeypatch.setitem(soundfonts.BANKS, "testset2", soundfonts.Bank("testset2", "testset2-1.sf2", "npm: t2-*", "",
                                                                      (), "testset2", "CC0", default=False, kind="npm"))
    write_sf2(tmp_path / "cache" / "soundfonts" / "testset2-1.sf2", "testset2",
              [Preset("cello", 42, 0, tuple(zone(f, k) for f, k in ((98, 43), (110, 45), (131, 48), (147, 50))))])
    both = recording_clips(tmp_path / "w", Stage(recording_files=3, note_bank="testset",
                                                 more_note_banks=("testset2",)), classes, root)
    assert np.array_equal(both["x"][:len(clips["x"])], clips["x"])
    further = both["meta"][len(clips["x"]):]
    assert [(m["bank"], m["class"]) for m in further] == [("testset2", "cello")] * 3
    assert all(y[classes.index("cello")] == 1 and y.sum() == 1 for y in both["y"][len(clips["x"]):])
    assert "more_note_banks" not in _settings(Stage(recording_files=3, note_bank="testset"))
    assert _settings(Stage(more_note_banks=("testset2",)))["more_note_banks"] == ("testset2",)


def _moved_stage(tmp_path: Path) -> tuple[Path, dict, dict]:
    """A stand-in for a stage model: the base's networks with every float weight moved by a known amount and
    ukulele learned, exported; returns it with the base's and the stage's state dicts."""
    from instrec.bundle import export_model, load_exported
    from instrec.default_model import base_model_path

    base, card = load_exported(base_model_path())
    before = {k: v.clone() for k, v in base.state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for v in base.state_dict().values():
            if v.is_floating_point():
                v.mul_(1 + 0.05 * torch.randn(v.shape, generator=gen).abs())  # (variances stay positive)
            else:
                v.add_(7)  # batch counters
    learned = [bool(t) or c == "ukulele" for c, t in zip(card["classes"], card["trained_classes"])]
    out = export_model(base, {**card, "trained_classes": learned}, tmp_path / "stage", {"note": "a stage"})
    return out, before, {k: v.clone() for k, v in base.state_dict().items()}


def test_the_stage_averaged_with_its_base_is_halfway_but_for_what_the_base_never_learned(tmp_path):
    from instrec.bundle import load_exported
    from instrec.default_model import base_model_path
    from instrec.predict import load_model
    from tests.conftest import load_script

    average_with_base = load_script("average_stage").average_with_base

    stage, base_sd, stage_sd = _moved_stage(tmp_path)
    out = average_with_base(stage, base_model_path(), tmp_path / "mean", share=0.5)
    mixed, card = load_exported(out)
    uke = card["classes"].index("ukulele")
    unlearned = [i for i, t in enumerate(load_exported(base_model_path())[1]["trained_classes"]) if not t]
    assert uke in unlearned
    for name, value in mixed.state_dict().items():
        if not value.is_floating_point():
            assert torch.equal(value, stage_sd[name])  # the stage's counters
        elif ".head.attention." in name or ".head.classes." in name:
            assert torch.equal(value[unlearned], stage_sd[name][unlearned])  # ukulele, mandolin: E4 never learned
            others = [i for i in range(len(value)) if i not in unlearned]
            assert torch.allclose(value[others], (base_sd[name][others] + stage_sd[name][others]) / 2, atol=1e-6)
        else:
            assert torch.allclose(value, (base_sd[name] + stage_sd[name]) / 2, atol=1e-6)
    assert card["stage_average"]["share"] == 0.5 and card["note"] == "a stage"
    assert card["trained_classes"][uke]
    # the whole share is the stage itself; none is the base but for ukulele's rows
    whole, _ = load_exported(average_with_base(stage, base_model_path(), tmp_path / "whole", share=1.0))
    assert all(torch.equal(v, stage_sd[k]) for k, v in whole.state_dict().items())
    none, _ = load_exported(average_with_base(stage, base_model_path(), tmp_path / "none", share=0.0))
    name = "members.0.convs.0.weight"
    assert torch.equal(none.state_dict()[name], base_sd[name])
    probs = load_model(out).predict(np.sin(np.arange(32000) / 5.0).astype(np.float32), sample_rate=16000).probs
    assert probs.shape == (20,) and np.isfinite(probs).all()


def test_averaging_a_stage_with_another_base_is_refused(tmp_path):
    from instrec.errors import InstrecError
    from instrec.predict import SHIPPED
    from tests.conftest import load_script

    average_with_base = load_script("average_stage").average_with_base

    stage, _, _ = _moved_stage(tmp_path)
    with pytest.raises(InstrecError, match="share 1.5"):
        average_with_base(stage, stage, tmp_path / "x", share=1.5)
    # one of the stage's networks alone is not the shipped model's four: refused before anything is written
    from instrec.bundle import export_model, load_exported

    networks, card = load_exported(stage)
    export_model(networks.members[0], card, tmp_path / "one")
    with pytest.raises(InstrecError, match="not trained from"):
        average_with_base(tmp_path / "one", SHIPPED, tmp_path / "y")
    assert not (tmp_path / "y").exists()
