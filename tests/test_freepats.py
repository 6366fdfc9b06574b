"""FreePats: GUS patches read, each waveform held as a whole note, fetched from a Debian package and read as notes."""

import hashlib
import struct

import numpy as np
import pytest

from instrec.datasets.synth import freepats, soundfonts
from instrec.errors import InstrecError


def _wave(samples: np.ndarray, rate: int, root_hz: float, low_hz: float, high_hz: float,
          loop: tuple[int, int] | None = None, bits: int = 16, unsigned: bool = False, pingpong: bool = False) -> bytes:
    """One GF1 waveform (header + data) as a patch editor writes it: loop points and sizes in bytes."""
    width = bits // 8
    scale = 2 ** (bits - 1) - 1
    ints = np.round(samples * scale).astype(np.int64) + (2 ** (bits - 1) if unsigned else 0)
    data = ints.astype({(2, False): "<i2", (2, True): "<u2", (1, False): "i1", (1, True): "u1"}[width, unsigned])
    data = data.tobytes()
    modes = (1 if width == 2 else 0) | (2 if unsigned else 0) | (4 if loop else 0) | (8 if pingpong else 0)
    start, end = (loop[0] * width, loop[1] * width) if loop else (0, 0)
    header = (b"wave\0\0\0" + bytes([0]) + struct.pack("<III", len(data), start, end) + struct.pack("<H", rate)
              + struct.pack("<III", int(low_hz * 1000), int(high_hz * 1000), int(root_hz * 1000))
              + struct.pack("<H", 512) + bytes([7]) + bytes(12) + bytes(6) + bytes([modes]) + struct.pack("<HH", 60, 1024)
              + bytes(36))
    assert len(header) == freepats.WAVE_HEADER
    return header + data


def _patch(*waves: bytes) -> bytes:
    head = b"GF1PATCH110\0" + b"ID#000002\0" + b"test patch".ljust(60, b"\0") + bytes([1, 14, 0])
    head += struct.pack("<HHI", len(waves), 127, sum(len(w) for w in waves)) + bytes(36)
    assert len(head) == freepats.FILE_HEADER
    instrument = struct.pack("<H", 0) + b"test".ljust(16, b"\0") + struct.pack("<I", 0) + bytes([1]) + bytes(40)
    layer = bytes([0, 0]) + struct.pack("<I", 0) + bytes([len(waves)]) + bytes(40)
    return head + instrument + layer + b"".join(waves)


RATE = 22050
T = np.arange(RATE // 2) / RATE
SINE = 0.5 * np.sin(2 * np.pi * 440.0 * T)  # 100 cycles of 220.5 samples... a loop of whole cycles below
LOOP = (RATE // 4 - 2205, RATE // 4)  # 0.1 s: 44 whole cycles of 440 Hz at 22,050 Hz
PLUCK = 0.8 * np.sin(2 * np.pi * 220.0 * T) * np.exp(-T / 0.05)


def _fundamental(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), 1 << 17))
    return float(np.fft.rfftfreq(1 << 17, 1 / rate)[np.argmax(spectrum)])


def test_a_patch_is_read_with_its_waveforms_keys_and_loops():
    data = _patch(_wave(SINE, RATE, 440.0, 400.0, 500.0, loop=LOOP),
                  _wave(PLUCK, 16000, 220.0, 100.0, 300.0, bits=8, unsigned=True))
    sine, pluck = freepats.read_patch(data, "t.pat")
    assert (sine.rate, sine.root_hz, sine.low_hz, sine.high_hz, sine.loop) == (RATE, 440.0, 400.0, 500.0, LOOP)
    assert np.abs(sine.samples - SINE).max() < 1e-4  # 16-bit signed
    assert pluck.loop is None and pluck.rate == 16000
    assert np.abs(pluck.samples - PLUCK).max() < 0.02  # 8-bit unsigned, centred again
    with pytest.raises(InstrecError, match=r"^t\.pat: not a GUS patch"):
        freepats.read_patch(b"RIFF" + bytes(400), "t.pat")
    with pytest.raises(InstrecError, match=r"^t\.pat: truncated"):
        freepats.read_patch(data[:-5000], "t.pat")


def test_a_looped_waveform_is_held_as_a_whole_note_and_faded_and_a_plucked_one_kept_as_recorded():
    sine, pluck = freepats.read_patch(_patch(_wave(SINE, RATE, 440.0, 400.0, 500.0, loop=LOOP),
                                             _wave(PLUCK, RATE, 220.0, 100.0, 300.0)))
    held = freepats.held_note(sine, seconds=2.0, fade=0.3)
    assert held.size == 2 * RATE  # the key held 2 s, although only 0.5 s was recorded
    middle = held[RATE // 2:RATE]  # well past the recording: the loop repeated, in tune, at its level
    assert abs(_fundamental(middle, RATE) - 440.0) < 2.0 and 0.45 < np.abs(middle).max() < 0.55
    assert np.array_equal(held[:LOOP[1]], sine.samples[:LOOP[1]])  # what comes before the loop's end, as recorded
    assert np.abs(held[-50:]).max() < 0.01 and np.abs(held[-int(0.4 * RATE):-int(0.3 * RATE)]).max() > 0.45
    assert np.array_equal(freepats.held_note(pluck), pluck.samples)
    (bounce,) = freepats.read_patch(_patch(_wave(SINE, RATE, 440.0, 400.0, 500.0, loop=LOOP, pingpong=True)))
    back = freepats.held_note(bounce, seconds=1.0, fade=0.0)
    cycle = LOOP[1] - LOOP[0]
    assert np.allclose(back[LOOP[1]:LOOP[1] + cycle - 2], bounce.samples[LOOP[1] - 2:LOOP[0]:-1])  # played back


def test_the_bank_comes_from_the_debian_package_each_patch_checked_and_reads_as_notes(tmp_path, monkeypatch,
                                                                                      build_deb):
    from instrec.real_stage import bank_notes

    files = {40: _patch(_wave(SINE, RATE, 440.0, 400.0, 500.0, loop=LOOP)),  # violin
             73: _patch(_wave(PLUCK, RATE, 220.0, 100.0, 300.0), _wave(SINE, RATE, 440.0, 301.0, 900.0, loop=LOOP)),
             120: _patch(_wave(SINE, RATE, 440.0, 400.0, 500.0))}  # fret noise: no class, never read as a note
    patches = {p: (f"Tone_000/{p:03d}.pat", hashlib.sha256(b).hexdigest()) for p, b in files.items()}
    monkeypatch.setattr(freepats, "PATCHES", patches)
    monkeypatch.setenv("INSTREC_CACHE", str(tmp_path / "cache"))
    debs = build_deb("freepats", freepats.VERSION,
                     {f"{freepats.PATCH_DIR}/{patches[p][0]}": b for p, b in files.items()})
    got, failed = soundfonts.fetch(["freepats"], deb_dir=debs)
    assert not failed and got["freepats"] == soundfonts.soundfont_dir() / "freepats-1.sf2"
    notes = bank_notes("freepats")
    assert [label for _, _, label in notes] == ["violin", "flute", "flute"]
    violin = notes[0]
    assert violin[1] == 22050 and violin[0].size == 2 * 22050  # held 2 s
    assert abs(_fundamental(violin[0][:22050], violin[1]) - 440.0) < 2.0
    assert 0.49 < np.abs(violin[0]).max() < 0.51  # at its recorded level
    assert soundfonts.pool_paths(["freepats"]) == [got["freepats"]]  # and it renders as a bank of the pool
    # a patch that is not the expected one is refused in one line, and nothing is written
    got["freepats"].unlink()
    monkeypatch.setitem(freepats.PATCHES, 73, (patches[73][0], hashlib.sha256(b"another").hexdigest()))
    got, failed = soundfonts.fetch(["freepats"], deb_dir=debs)
    assert not got and "073.pat has an unexpected sha256" in failed["freepats"]
    assert "\n" not in failed["freepats"] and soundfonts.locate("freepats") is None


def test_the_shipped_patch_list_names_a_classed_program_each():
    from instrec.datasets.classes import GM_PROGRAMS

    classed = {p for programs in GM_PROGRAMS.values() for p in programs}
    assert set(freepats.PATCHES) <= classed
    assert len({digest for _, digest in freepats.PATCHES.values()}) == len(freepats.PATCHES)
    by_class = {c for c, programs in GM_PROGRAMS.items() if set(programs) & set(freepats.PATCHES)}
    assert {"accordion", "voice", "synthesizer", "cello"} <= by_class  # what tonejs lacks, and cello's second
