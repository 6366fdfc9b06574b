"""The festival singers bank: its layout, the Festival input it writes, fetching its packages, and (marked slow,
with the packages at hand) the bank itself."""

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from instrec.datasets.classes import GM_PROGRAMS, PITCH_RANGES
from instrec.datasets.synth import singing, soundfonts
from instrec.datasets.synth.render import Note, Part, Renderer
from instrec.datasets.synth.samplebank import GEN_VEL_RANGE, Preset, Zone, write_sf2
from instrec.errors import InstrecError

RATE = 16000


def _tone(freq: float, amplitude: float, rate: int = 22050) -> np.ndarray:
    t = np.arange(2 * rate) / rate
    return np.round(amplitude * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(audio ** 2)))


def _f0(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size), 1 << 16))
    return float(np.argmax(spectrum) * RATE / (1 << 16))


def test_velocity_layers_choose_the_zone(tmp_path):
    soft = Zone("soft", _tone(220.0, 0.1), 22050, 57, 0, 127, 1, 79)
    loud = Zone("loud", _tone(330.0, 0.5), 22050, 64, 0, 127, 80, 127)
    path = tmp_path / "layers.sf2"
    write_sf2(path, "layers", [Preset("voice", 52, 0, (soft, loud))])
    for velocity, freq in ((60, 220.0), (79, 220.0), (80, 330.0), (110, 330.0)):
        audio = Renderer([path], RATE).render([Part(0, 0, 52)], [Note(0.0, 1.0, 0, 57, velocity)], 1.2)[1600:14400]
        # the loud layer's sample is pitched at key 64, so key 57 plays it 7 semitones down
        assert _f0(audio) == pytest.approx(freq if freq == 220.0 else 330.0 * 2 ** (-7 / 12), rel=0.01)
    # a zone without layers writes no velocity range: banks written before layers existed keep their bytes
    plain = tmp_path / "plain.sf2"
    write_sf2(plain, "plain", [Preset("voice", 52, 0, (Zone("one", _tone(220.0, 0.1), 22050, 57, 0, 127),))])
    assert struct.pack("<H", GEN_VEL_RANGE) + bytes([0, 127]) not in plain.read_bytes()
    assert struct.pack("<H", GEN_VEL_RANGE) + bytes([1, 79]) in path.read_bytes()


def test_layout_sings_every_key_and_velocity_of_the_voice_class_once():
    notes = singing.sung_notes()
    assert set(singing.LAYOUT) == set(GM_PROGRAMS["voice"])
    low, high = PITCH_RANGES["voice"]
    for program in singing.LAYOUT:
        mine = [n for n in notes if n.program == program]
        for key in range(low, high + 1):
            for velocity in range(1, 128):
                players = [n for n in mine if n.key_low <= key <= n.key_high and n.vel_low <= velocity <= n.vel_high]
                assert len(players) == 1, (program, key, velocity)
        # a key is sung by a root within a semitone of it, up to the highest root Festival can sing
        for n in mine:
            assert n.key_low - 1 <= n.root <= n.key_high + 1 or n.root == singing.SUNG_KEYS[1]
    # nine singers, none asked for more than Festival's diphones reach (about 500 Hz)
    assert {n.singer for n in notes} == set(singing.SINGERS)
    assert max(440 * 2 ** ((n.root - 69) / 12) for n in notes) < 500
    # the two velocity layers of a register are different singers; the syllables change from note to note
    for registers in singing.LAYOUT.values():
        assert all(a != b for _, _, (a, b) in registers)
    assert len({n.syllable for n in notes}) >= 6


def test_segments_sing_the_root_with_each_singers_phones():
    rng = np.random.default_rng(0)
    for note in singing.sung_notes():
        text = singing.segments(note, rng)
        singer = singing.SINGERS[note.singer]
        consonant, vowel = note.syllable
        phones = re.findall(r"\(([^\s()\d][^\s()]*) ([\d.]+)", text)  # (phone duration ...); targets start with a digit
        assert phones[0] == (singer.pause, "0.05") and phones[-1] == (singer.pause, "0.05")
        assert [p for p, _ in phones[1:-1]] == ([consonant] if consonant else []) + [singer.vowels[vowel]]
        hz = 440 * 2 ** ((note.root - 69) / 12)
        targets = [float(f) for f in re.findall(r"\([\d.]+ ([\d.]+)\)", text)]
        assert targets and all(abs(1200 * np.log2(f / hz)) <= 50.5 for f in targets)  # hundredths of a Hz
    a, b = singing.sung_notes()[:2]
    with pytest.raises(ValueError):
        singing.festival_script([a, b], Path("out"), Path("voices"))
    czech = next(n for n in singing.sung_notes() if n.singer == "dita")
    script = singing.festival_script([czech], Path("/o"), Path("/v"))
    assert '"/v/czech/czech_dita/group/dita.group"' in script and '"/o/' + czech.name + '.wav"' in script


def _deb(folder: Path, package: str, version: str, filename: str) -> Path:
    """A minimal Debian package holding one file, built with dpkg-deb."""
    pkg = folder / f"build-{package}"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text(f"Package: {package}\nVersion: {version}\nArchitecture: all\n"
                                            "Maintainer: instrec <t@example.invalid>\nDescription: test\n")
    (pkg / "usr/share").mkdir(parents=True)
    (pkg / "usr/share" / f"{package}.txt").write_text(package)
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(pkg), str(folder / filename)],
                   check=True, capture_output=True)
    shutil.rmtree(pkg)
    return folder / filename


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb not available")
def test_packages_are_found_by_version_verified_and_unpacked(tmp_path, monkeypatch):
    debs = tmp_path / "debs"
    debs.mkdir()
    deb = _deb(debs, "testvoice", "1:2.0-1", "testvoice_1%3a2.0-1_all.deb")  # apt writes the epoch as %3a
    _deb(debs, "testvoice", "1.0-1", "testvoice_1.0-1_all.deb")  # another version beside it
    from instrec.weights import sha256_of

    found = soundfonts.find_deb("testvoice", debs, tmp_path, "by hand", version="1:2.0-1")
    assert found == deb
    with pytest.raises(InstrecError, match=r"no testvoice_\*3.0-1_\*.deb"):
        soundfonts.find_deb("testvoice", debs, tmp_path, "by hand", version="3.0-1")
    monkeypatch.setattr(singing, "PACKAGES", (("testvoice", "1:2.0-1", sha256_of(deb)),))
    root = singing._unpack(debs, tmp_path / "work")
    assert (root / "usr/share/testvoice.txt").read_text() == "testvoice"
    monkeypatch.setattr(singing, "PACKAGES", (("testvoice", "1:2.0-1", "0" * 64),))
    with pytest.raises(InstrecError, match="testvoice_1%3a2.0-1_all.deb: sha256 does not match"):
        singing._unpack(debs, tmp_path / "work2")
    # no Festival in the unpacked tree: one clear error, not a traceback
    with pytest.raises(InstrecError, match="Festival would not run"):
        singing.sing(singing.sung_notes()[:1], root, tmp_path)


FESTIVAL_DEBS = os.environ.get("INSTREC_FESTIVAL_DEBS")


@pytest.mark.slow
@pytest.mark.skipif(not FESTIVAL_DEBS, reason="set INSTREC_FESTIVAL_DEBS to a folder of singing.PACKAGES' .deb files")
def test_the_built_bank_sings_voice_notes_at_their_pitch(tmp_path):
    path = singing.build_festival_bank(tmp_path / "festival.sf2", FESTIVAL_DEBS)
    renderer = Renderer([path], RATE)
    assert all(renderer.has_program(0, p) for p in GM_PROGRAMS["voice"])
    for program, key, velocity in ((52, 55, 60), (52, 64, 100), (53, 60, 40), (53, 69, 120)):
        audio = renderer.render([Part(0, 0, program)], [Note(0.0, 2.0, 0, key, velocity)], 2.2)
        assert _rms(audio) > 0.005
        # the strongest harmonic is a multiple of the note's pitch (a voice's first formant often outweighs it)
        hz = 440 * 2 ** ((key - 69) / 12)
        ratio = _f0(audio[8000:24000]) / hz
        assert abs(ratio - round(ratio)) < 0.03 and round(ratio) >= 1
