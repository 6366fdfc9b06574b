"""Playable banks from the single notes of `instrec recordings` (notebanks.py)."""

import numpy as np
import pytest
import soundfile as sf

from instrec.datasets import recordings
from instrec.datasets.synth import notebanks
from instrec.errors import InstrecError


@pytest.mark.parametrize("path, key", [
    ("Ukulele/Samples/1-A4.wav", 69),
    ("Samples/HEADROOM PIANO LEVEL1 CLOSE 102.flac", 102),
    ("CP80/Samples/027-D#1-F.flac", 27),
    ("Wurlitzer EP200/Samples/a1pp.flac", 33),
    ("Samples/FF A#2.flac", 46),
    ("Samples/Mf B-1.flac", 11),
    ("samples/chengu/notes/note036-do.wav", 36),
    ("Samples/bb2_looped_f.wav", 46),
    ("Common/Banjo_Common - F#4_7.wav", 66),
    ("Samples/blackheart/Eb4.wav", 63),
    ("Button Accordion HN F#4.flac", 66),
    ("library/Samples/C3_ff.flac", 48),
    ("Samples/perc1_rr1.wav", None),
    ("Samples/mute/sneakybass_a2_mute_rr3.wav", None),
    ("samples/vowels/u_from_luck_rr2.wav", None),
])
def test_a_note_s_key_is_read_from_its_file_name(path, key):
    assert notebanks.note_key(path) == key


def test_every_note_bank_library_is_in_the_manifest_with_pitched_notes():
    from instrec.datasets.classes import GM_PROGRAMS

    rows = recordings.read_manifest()
    for library, spec in notebanks.NOTE_BANKS.items():
        notes = [r for r in rows if r.library == library]
        assert notes and {r.label for r in notes} == {spec.label}
        assert spec.program in GM_PROGRAMS[spec.label]  # the renderer plays it as that class
        pitched = [r for r in notes if notebanks.note_key(r.upstream_path) is not None]
        assert len(pitched) >= len(notes) * 0.7, library


def test_a_bank_built_from_fetched_notes_plays_its_class_at_the_sounding_pitch(tmp_path):
    from instrec.datasets.synth.openmic import available_classes
    from instrec.datasets.synth.render import Renderer

    library = "floe-audio.Xylophone"
    rows = [r for r in recordings.read_manifest() if r.library == library]
    for r in rows:  # a sine at the key the name gives plus the library's octave
        key = notebanks.note_key(r.upstream_path) + notebanks.NOTE_BANKS[library].octave
        t = np.arange(8000) / 16000
        (tmp_path / "rec" / r.path).parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(tmp_path / "rec" / r.path), 0.5 * np.sin(2 * np.pi * 440 * 2 ** ((key - 69) / 12) * t) *
                 np.exp(-4 * t), 16000, format="FLAC")
    target = notebanks.build_note_bank(library, tmp_path / "x.sf2", tmp_path / "rec")
    renderer = Renderer([target])
    assert set(available_classes(renderer)) == {"mallet_percussion"}
    zones = notebanks.bank_zones(recordings.located(rows, tmp_path / "rec"), 22050, 12)
    assert [z.root_key for z in zones] == sorted({notebanks.note_key(r.upstream_path) + 12 for r in rows})
    assert zones[0].key_low == 0 and zones[-1].key_high == 127  # the whole keyboard is playable
    # an unfetched library is one clear line
    with pytest.raises(InstrecError, match="not fetched; run `instrec recordings fetch sfzinstruments.ganjo`"):
        notebanks.build_note_bank("sfzinstruments.ganjo", tmp_path / "g.sf2", tmp_path / "rec")


def test_note_banks_are_registered_with_their_library_as_group():
    from instrec.datasets.synth.soundfonts import BANKS, DEFAULT_POOL, bank_group

    for library in notebanks.NOTE_BANKS:
        name = notebanks.bank_name(library)
        assert BANKS[name].kind == "recordings" and bank_group(name) == library and name not in DEFAULT_POOL
