import json
from importlib import resources

import numpy as np
import pytest

from instrec.audio import load_audio
from instrec.datasets.classes import OPENMIC_CLASSES
from instrec.datasets.freesound import Freesound
from instrec.datasets.nsynth import NSynth
from instrec.datasets.openmic import OpenMIC
from instrec.datasets.synth import synth_dataset
from instrec.errors import InstrecError


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("rendered")
    sizes = {"openmic": 12, "nsynth": 40, "freesound": 30}
    return {kind: synth_dataset(kind, root / kind, size=n, seed=3, workers=1) for kind, n in sizes.items()}


def test_real_openmic_fixture_loads(fixtures):
    d = OpenMIC(fixtures / "openmic-2018")
    assert d.classes == OPENMIC_CLASSES and len(d.classes) == 20
    train = d.split("train")
    row = train.keys.index("000046_3840")
    clarinet, flute = d.classes.index("clarinet"), d.classes.index("flute")
    assert train.y_mask[row].sum() == 3 and train.y_mask[row, clarinet]
    assert np.isclose(train.y_true[row, clarinet], 0.17105) and not train.labels[row, clarinet]
    assert train.y_true[row, flute] == 0.0
    assert not train.y_mask[row, d.classes.index("piano")] and train.y_true[row, d.classes.index("piano")] == 0.5
    assert len(d.keys("test")) == 10
    assert d.released_features("000046_3840").shape == (10, 128)
    assert load_audio(d.audio_path("000046_3840")).shape == (160000,)


def test_packaged_validation_split_matches_attention_mic_indices():
    part = resources.files("instrec") / "data/openmic-2018/partitions"
    train = sorted((part / "split01_train.csv").read_text().split())
    with (part / "attention_mic_train_val.split").open("rb") as f:
        split = np.load(f)
        val_rows, train_rows = split["val"], split["train"]
    assert len(train) == 14915 and len(val_rows) == 2237 and len(train_rows) == 12678
    assert sorted(train[i] for i in val_rows) == sorted((part / "split01_val_keys.csv").read_text().split())


def test_real_nsynth_note_loads(fixtures):
    d = NSynth(fixtures / "nsynth")
    assert d.keys("test") == ["bass_acoustic_000-036-075"]
    rec = d.examples("test")["bass_acoustic_000-036-075"]
    assert rec["pitch"] == 36 and rec["instrument_family_str"] == "bass"
    audio = load_audio(d.audio_path("bass_acoustic_000-036-075"))
    assert audio.shape == (64000,)
    assert d.qualities("test").shape == (1, 10)


def _loaders(rendered, fixtures):
    return {
        "openmic-rendered": OpenMIC(rendered["openmic"]),
        "openmic-real": OpenMIC(fixtures / "openmic-2018"),
        "nsynth-rendered": NSynth(rendered["nsynth"]),
        "nsynth-real": NSynth(fixtures / "nsynth"),
        "freesound-rendered": Freesound(rendered["freesound"]),
    }


@pytest.mark.parametrize("name", ["openmic-rendered", "openmic-real", "nsynth-rendered", "nsynth-real", "freesound-rendered"])
def test_loader_contract(rendered, fixtures, name):
    loader = _loaders(rendered, fixtures)[name]
    all_keys = []
    for split in loader.splits:
        try:
            keys = loader.keys(split)
        except InstrecError:  # a real fixture may lack a split's metadata
            continue
        assert keys == sorted(set(keys), key=keys.index)  # unique
        all_keys += keys
    assert all_keys and len(set(all_keys)) == len(all_keys)  # splits are disjoint
    with_audio = [k for k in all_keys if loader.audio_path(k).exists()]
    assert with_audio and all(loader.audio_path(k).is_relative_to(loader.root) for k in all_keys)
    assert load_audio(loader.audio_path(with_audio[0])).size > 16000 * 0.5
    with pytest.raises(InstrecError, match="no split"):
        loader.keys("nonsense")


@pytest.mark.parametrize("cls,missing", [(OpenMIC, "class-map.json"), (NSynth, "examples.json"), (Freesound, "metadata.json")])
def test_incomplete_folder_names_the_missing_file(tmp_path, cls, missing):
    with pytest.raises(InstrecError, match="no-such-folder"):
        cls(tmp_path / "no-such-folder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InstrecError, match=missing) as err:
        cls(tmp_path / "empty")
    assert "instrec data synth" in str(err.value)


def test_openmic_rendered_layout_and_labels(rendered):
    root = rendered["openmic"]
    d = OpenMIC(root)
    meta = json.loads((root / "synth-metadata.json").read_text())
    assert set(meta["never_labelled"]) == {"mandolin", "ukulele"}  # TimGM6mb has neither
    with np.load(root / "openmic-2018.npz") as npz:
        assert set(npz.files) == {"Y_true", "Y_mask", "sample_key"}
        mask = npz["Y_mask"]
    for name in meta["never_labelled"]:
        assert not mask[:, d.classes.index(name)].any()
    assert mask.sum(axis=1).min() >= 2  # at least one positive and one negative per clip
    for clip in meta["clips"]:
        played = {p["class"] for p in clip["parts"]}
        positives = {c for c, r in clip["labels"].items() if r >= 0.5}
        negatives = {c for c, r in clip["labels"].items() if r < 0.5}
        assert positives and positives <= played and not (negatives & played)
        assert 1 <= len(played) <= 5
        assert clip["labels_full"] == {c: int(c in played) for c in meta["available_classes"]}
        assert d.audio_path(clip["sample_key"]).exists()
    assert len(d.keys("train")) + len(d.keys("validation")) + len(d.keys("test")) == 12


def test_rendered_clips_contain_the_labelled_instruments(rendered):
    from instrec.datasets.synth.openmic import ClipJob, available_classes, render_clip
    from instrec.datasets.synth.render import Renderer

    renderer = Renderer(None, 16000)
    available = available_classes(renderer)
    for index in range(4):
        job = ClipJob(index, 3, "", available, 16000, write=False)
        full = render_clip(renderer, job)
        written = load_audio(OpenMIC(rendered["openmic"]).audio_path(full["sample_key"]))
        assert written.shape == full["audio"].shape
        assert np.corrcoef(written, full["audio"])[0, 1] > 0.9  # the same render, through lossy Vorbis
        for name, relevance in full["labels"].items():
            if relevance < 0.5:
                continue
            without = render_clip(renderer, ClipJob(index, 3, "", available, 16000, exclude=name, write=False))["audio"]
            gain = np.dot(full["audio"], without) / max(np.dot(without, without), 1e-12)
            residual = np.linalg.norm(full["audio"] - gain * without) / np.linalg.norm(full["audio"])
            assert residual > 0.05, f"clip {index}: {name} is labelled but adds no energy"


def test_rendering_is_deterministic_and_independent_of_workers(tmp_path):
    a = synth_dataset("openmic", tmp_path / "a", size=8, seed=5, workers=1)
    b = synth_dataset("openmic", tmp_path / "b", size=8, seed=5, workers=2)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) > 8
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    c = synth_dataset("openmic", tmp_path / "c", size=8, seed=6, workers=1)
    assert (a / "openmic-2018.npz").read_bytes() != (c / "openmic-2018.npz").read_bytes()


def test_nsynth_rendered_format(rendered):
    d = NSynth(rendered["nsynth"])
    fields = {"note", "note_str", "instrument", "instrument_str", "pitch", "velocity", "sample_rate", "qualities",
              "qualities_str", "instrument_source", "instrument_source_str", "instrument_family", "instrument_family_str"}
    for split in d.splits:
        for key, rec in d.examples(split).items():
            assert set(rec) == fields and key == rec["note_str"]
            assert key == f"{rec['instrument_str']}-{rec['pitch']:03d}-{rec['velocity']:03d}"
            assert rec["instrument_str"].startswith(f"{rec['instrument_family_str']}_{rec['instrument_source_str']}_")
            assert len(rec["qualities"]) == 10
    key = d.keys("train")[0]
    audio = load_audio(d.audio_path(key))
    assert audio.shape == (64000,) and np.abs(audio[: 16000]).max() > 0.01
    assert d.qualities("train").sum() > 0


def test_freesound_rendered_format(rendered):
    d = Freesound(rendered["freesound"])
    assert d.vocabulary and len(d.vocabulary) <= 1000
    tags = d.tag_matrix("train")
    assert tags.shape == (len(d.keys("train")), len(d.vocabulary)) and (tags.sum(1) >= 3).all()
    for key in d.keys("train")[:5]:
        rec = d.sounds[key]
        assert {"id", "name", "tags", "duration", "license", "username"} <= set(rec)
        assert abs(len(load_audio(d.audio_path(key))) / 16000 - rec["duration"]) < 0.01
