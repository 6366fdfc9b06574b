"""datasets/synth/synthesizer.py: presets drawn as a synthesizer's sounds are made, played in the real stage."""

import numpy as np
import pytest

from instrec.datasets.synth import modelled, synthesizer
from instrec.datasets.synth.synthesizer import RATE, draw_preset, render_note, synthesizer_sources


def _plain(wave="saw", kind="lead", **changes):
    """A preset with nothing but one oscillator and a flat envelope (no filter, vibrato or effects)."""
    preset = {"kind": kind, "fm": None, "unison": 1, "spread_cents": 0.0, "sub": 0.0, "pwm_hz": 0.0,
              "oscillators": [{"wave": wave, "width": 0.25, "level": 1.0, "semitones": 0, "cents": 0.0}],
              "amp": {"attack_s": 0.005, "decay_s": 0.1, "sustain": 1.0, "release_s": 0.05}, "filter": None,
              "vibrato": None, "effects": {k: None for k in ("chorus", "phaser", "distortion_db", "delay_s", "reverb")}}
    preset.update(changes)
    return preset


def _spectrum(x):
    return np.abs(np.fft.rfft(x * np.hanning(x.size))), np.fft.rfftfreq(x.size, 1 / RATE)


@pytest.mark.parametrize("wave, key", [("saw", 45), ("square", 69), ("pulse", 81), ("triangle", 57)])
def test_a_note_sounds_at_its_key_with_its_waves_harmonics_and_nothing_between_them(wave, key):
    audio = render_note(_plain(wave), key, 1.0, np.random.default_rng(0))
    assert audio.dtype == np.float32 and np.abs(audio).max() == pytest.approx(0.5, abs=1e-4)
    mag, freqs = _spectrum(audio[RATE // 10: RATE])
    f0 = 440.0 * 2 ** ((key - 69) / 12)
    peak = freqs[np.argmax(mag)]
    assert abs(1200 * np.log2(peak / f0)) < 15  # the fundamental is the strongest partial, in tune
    near = lambda f: mag[np.abs(freqs - f) < 6].max()  # noqa: E731
    if wave in ("square", "triangle"):  # odd harmonics only
        assert near(2 * f0) < 0.05 * near(f0) and near(3 * f0) > 0.05 * near(f0)
    harmonic = np.min(np.abs(freqs[:, None] - f0 * np.arange(1, 60)[None, :]), axis=1) < 12
    assert mag[~harmonic & (freqs > 30)].max() < 0.03 * mag.max()  # band-limited: no aliased partials


def test_envelopes_filter_and_kinds_shape_the_sound_as_drawn():
    rng = np.random.default_rng(1)
    pluck = render_note(_plain(amp={"attack_s": 0.002, "decay_s": 0.3, "sustain": 0.0, "release_s": 0.1}), 60, 1.0,
                        rng)
    pad = render_note(_plain(amp={"attack_s": 0.8, "decay_s": 0.5, "sustain": 0.9, "release_s": 0.5}), 60, 2.0, rng)
    rms = lambda x, a, b: float(np.sqrt(np.mean(x[int(a * RATE):int(b * RATE)] ** 2)))  # noqa: E731
    assert rms(pluck, 0.0, 0.1) > 10 * rms(pluck, 0.7, 0.9)  # a pluck dies away
    assert rms(pad, 0.0, 0.1) < 0.3 * rms(pad, 1.0, 1.5)  # a pad swells
    swept = _plain(filter={"mode": "LPF24", "cutoff_ratio": 2.0, "resonance": 0.2, "env_octaves": 4.0,
                           "env_decay_s": 0.1, "drive": 1.0})
    audio = render_note(swept, 48, 1.5, rng)
    centroid = lambda x: float((_spectrum(x)[0] * _spectrum(x)[1]).sum() / _spectrum(x)[0].sum())  # noqa: E731
    assert centroid(audio[:RATE // 10]) > 2 * centroid(audio[RATE:RATE + RATE // 10])  # the filter closes
    for kind in synthesizer.KINDS:  # every kind draws and renders, FM included, in its register
        preset = draw_preset(np.random.default_rng(4), kind)
        assert (preset["fm"] is not None) == (kind == "fm") and preset["kind"] == kind
        notes = synthesizer.preset_notes(preset, np.random.default_rng(5), count=3)
        low, high = synthesizer.REGISTERS[kind]
        assert all(low <= key <= high and np.isfinite(a).all() and np.abs(a).max() > 0.1 for key, a in notes)


def test_the_presets_are_sources_of_one_group_seeded_and_the_held_out_stream_is_never_trained(monkeypatch):
    from instrec.datasets.classes import OPENMIC_CLASSES
    from instrec.datasets.synth.parts import real_clip

    sources = synthesizer_sources(count=6, seed=2)
    assert [s.library for s in sources] == [f"synth.{k}-{i}" for i, k in enumerate(synthesizer.KINDS)]
    assert {s.label for s in sources} == {"synthesizer"} and {s.group for s in sources} == {"synth"}
    assert all(len(s.notes) == synthesizer.NOTES_PER_PRESET == len(set(s.note_names)) for s in sources)
    again = synthesizer_sources(count=6, seed=2)
    assert all(np.array_equal(a.notes[3], b.notes[3]) for a, b in zip(sources, again))
    held = synthesizer_sources(count=6, seed=2, stream=synthesizer.HELD_OUT_STREAM)
    assert not any(np.array_equal(a.notes[0], b.notes[0]) for a, b in zip(sources, held))
    audio, labels, meta = real_clip(sources, np.random.default_rng(0), list(OPENMIC_CLASSES), arrangement="solo")
    assert labels[OPENMIC_CLASSES.index("synthesizer")] == 1 and labels.sum() == 1
    (part,) = meta["parts"]
    assert part["library"].startswith("synth.") and np.isfinite(audio).all() and np.abs(audio).max() > 0.01
    # as a modelled instrument: no material to fetch, several sources, and the probe's pieces drawn among them
    monkeypatch.setattr(synthesizer, "PRESETS", 6)
    modelled.check_modelled(("synthesizer",))
    assert [s.library for s in modelled.modelled_sources(("synthesizer",), 2)] == [s.library for s in sources]
    pieces = modelled.modelled_pieces(("synthesizer",), seed=2, count=3)
    assert [(rate, label) for _, rate, label in pieces] == [(16000, "synthesizer")] * 3
    assert all(a.shape == (160000,) and np.abs(a).max() > 0.01 for a, _, _ in pieces)
    assert not np.array_equal(pieces[0][0], pieces[1][0])
    assert all(np.array_equal(a, b) for (a, _, _), (b, _, _) in
               zip(pieces, modelled.modelled_pieces(("synthesizer",), seed=2, count=3)))
    assert "synthesizer" not in modelled.WHOLE_SAY  # the banks teach it too: the probe's usual share


def test_modelled_solos_come_after_the_stages_own_clips_and_label_the_synthesizer_alone(tmp_path, monkeypatch):
    import dataclasses

    from instrec.datasets.classes import OPENMIC_CLASSES
    from instrec.datasets.synth import synth_dataset
    from instrec.errors import InstrecError
    from instrec.real_stage import Stage, _settings, build_clips
    from tests.test_real_stage import _fake_recordings

    monkeypatch.setattr(synthesizer, "PRESETS", 2)
    dataset = synth_dataset("openmic", tmp_path / "om", size=8, seed=3, workers=1, labels="full")
    root = tmp_path / "rec"
    _fake_recordings(root, ["francoiswnel.Ukulele"])
    classes = list(OPENMIC_CLASSES)
    stage = Stage(real_clips=4, overlay_clips=1, rendered_clips=1, negative_clips=1, negative_overlays=0,
                  modelled=("synthesizer",))
    solos = dataclasses.replace(stage, modelled_solos=3)
    assert "modelled_solos" not in _settings(stage) and _settings(solos)["modelled_solos"] == 3
    plain = build_clips(tmp_path / "a", stage, classes, dataset, root)
    more = build_clips(tmp_path / "b", solos, classes, dataset, root)
    n = len(plain["x"])
    assert len(more["x"]) == n + 3 and np.array_equal(more["x"][:n], plain["x"])  # the stage's own clips unchanged
    assert [m["type"] for m in more["meta"][n:]] == ["modelled-solo"] * 3
    synth = classes.index("synthesizer")
    assert np.all(more["y"][n:, synth] == 1) and np.all(more["y"][n:].sum(axis=1) == 1) and more["mask"][n:].all()
    assert all(m["parts"][0]["library"].startswith("synth.") for m in more["meta"][n:])
    with pytest.raises(InstrecError, match="modelled solos need modelled instruments"):
        build_clips(tmp_path / "c", dataclasses.replace(solos, modelled=()), classes, dataset, root)



def _small_bank(index, target, build=synthesizer.build_preset_bank):
    """A preset bank over keys 60-66 only (roots 60, 63, 66): the same code, a few notes."""
    return build(index, target, keys=(60, 66))


def test_a_preset_bank_plays_the_synthesizer_programs_at_their_keys_and_is_seeded_apart(tmp_path, monkeypatch):
    from instrec.datasets.synth import soundfonts
    from instrec.datasets.synth.openmic import available_classes
    from instrec.datasets.synth.render import Note, Part, Renderer
    from instrec.datasets.synth.samplebank import read_sf2

    monkeypatch.setenv("INSTREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(synthesizer, "build_preset_bank", _small_bank)
    path = soundfonts.fetch_bank("synth-presets-1")  # computed into the cache, nothing downloaded
    assert path == tmp_path / "cache" / "soundfonts" / "synth-presets-1-1.sf2"
    assert soundfonts.BANKS["synth-presets-1"].kind == "synth"
    assert soundfonts.bank_group("synth-presets-0") == soundfonts.bank_group("synth-presets-3")  # one generator
    renderer = Renderer([path])
    assert {c: [p for _, p in o] for c, o in available_classes(renderer).items()} == \
        {"synthesizer": sorted(synthesizer.BANK_PROGRAMS)}  # the class's General MIDI programs, nothing else
    presets = read_sf2(path)
    assert sorted(p.program for p in presets) == sorted(synthesizer.BANK_PROGRAMS)
    for preset in presets:  # a note every third key, each zone reaching half way to its neighbours
        assert [z.root_key for z in preset.zones] == [60, 63, 66]
        assert (preset.zones[1].key_low, preset.zones[1].key_high) == (62, 64)

    def log_spectrum(key, program):  # magnitude on a grid of 5 cents from 80 Hz
        audio = renderer.render([Part(0, 0, program, 100)], [Note(0.0, 0.9, 0, key, 100)], 1.0)
        mag = np.abs(np.fft.rfft(audio[RATE // 10: RATE] * np.hanning(RATE - RATE // 10), 1 << 16))
        grid = 80.0 * 2 ** (np.arange(0, 5 * 1200, 5) / 1200)
        return np.interp(grid, np.fft.rfftfreq(1 << 16, 1 / RATE), mag)

    for program in synthesizer.BANK_PROGRAMS:  # a key beside a root plays that root's note a semitone up
        low, high = log_spectrum(63, program), log_spectrum(64, program)
        shifts = range(-40, 41)
        cents = 5 * max(shifts, key=lambda k: float(np.dot(low[max(0, -k):len(low) - max(0, k)],
                                                            high[max(0, k):len(high) - max(0, -k)])))
        assert cents == pytest.approx(100, abs=10), program
    again = _small_bank(1, tmp_path / "again.sf2")
    other = _small_bank(2, tmp_path / "other.sf2")
    assert again.read_bytes() == path.read_bytes() and other.read_bytes() != path.read_bytes()  # seeded per bank
    bank_drawn = {repr(draw_preset(np.random.default_rng([i, synthesizer.BANK_STREAM, p]), "lead"))
                  for i in range(4) for p in synthesizer.BANK_PROGRAMS}
    held_out = {repr(draw_preset(np.random.default_rng([101, synthesizer.HELD_OUT_STREAM, i]), "lead"))
                for i in range(24)}
    assert not bank_drawn & held_out  # the banks never play a preset that synth_check holds out
