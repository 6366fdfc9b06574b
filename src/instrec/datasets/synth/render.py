"""Offline SoundFont rendering with tinysoundfont, deterministic Ogg writing and a simple reverb.

A :class:`Renderer` holds one synthesizer with every SoundFont loaded; ``render`` plays a list of
note events and returns mono float32 audio. The same events always give the same samples.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from instrec.errors import InstrecError
from instrec.io import atomic_path

DRUM_CHANNEL = 9
DRUM_BANK = 128


def default_soundfont() -> Path:
    """TimGM6mb.sf2, the small GM SoundFont shipped inside the pretty_midi wheel."""
    try:
        import pretty_midi
    except ImportError:
        raise InstrecError("the default SoundFont comes with pretty_midi: pip install pretty_midi (or pass --soundfont)") from None
    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


@dataclass(frozen=True)
class Note:
    """One note: ``channel`` 9 is the GM drum kit; ``program`` is ignored there."""

    start_s: float
    duration_s: float
    channel: int
    key: int
    velocity: int


@dataclass(frozen=True)
class Control:
    """A channel message at ``start_s``: a MIDI controller (``control`` 0-127, e.g. 11 expression) or,
    with ``control`` = PITCH_BEND, the pitch wheel (``value`` 0-16383, 8192 = centre, +-2 semitones)."""

    start_s: float
    channel: int
    control: int
    value: int


PITCH_BEND = -1


@dataclass(frozen=True)
class Part:
    """Which SoundFont and program a channel uses, and its channel volume (CC 7)."""

    channel: int
    soundfont: int
    program: int
    volume: int = 100


class Renderer:
    """tinysoundfont synthesizer with a list of SoundFonts loaded."""

    def __init__(self, soundfonts: list[str | Path] | None = None, sample_rate: int = 16000) -> None:
        try:
            import tinysoundfont
        except ImportError:
            raise InstrecError("rendering needs tinysoundfont: pip install --no-deps tinysoundfont") from None
        paths = [Path(p) for p in (soundfonts or [default_soundfont()])]
        self.sample_rate = sample_rate
        self.synth = tinysoundfont.Synth(samplerate=sample_rate)
        self.soundfonts = []
        for path in paths:
            if not path.is_file():
                raise InstrecError(f"{path}: SoundFont not found; give an existing .sf2/.sf3 file")
            try:
                self.soundfonts.append(self.synth.sfload(str(path)))
            except Exception as exc:  # tinysoundfont raises its own exception type
                raise InstrecError(f"{path}: not a readable SoundFont ({exc}); give a .sf2 or .sf3 file") from None
        self.paths = paths

    def preset_name(self, soundfont: int, program: int, bank: int = 0) -> str | None:
        return self.synth.sfpreset_name(self.soundfonts[soundfont], bank, program)

    def has_program(self, soundfont: int, program: int) -> bool:
        return self.preset_name(soundfont, program) is not None

    def has_drums(self, soundfont: int) -> bool:
        return self.preset_name(soundfont, 0, DRUM_BANK) is not None

    def render(self, parts: list[Part], notes: list[Note], duration_s: float,
               controls: list[Control] = ()) -> np.ndarray:
        """Play ``notes`` (and ``controls``) on ``parts``; returns (samples,) mono float32 of ``duration_s`` s."""
        synth = self.synth
        self._reset()
        for part in parts:
            drums = part.channel == DRUM_CHANNEL
            synth.program_select(part.channel, self.soundfonts[part.soundfont], DRUM_BANK if drums else 0,
                                 0 if drums else part.program, drums)
            synth.control_change(part.channel, 7, part.volume)
            synth.control_change(part.channel, 11, 127)  # expression and pitch wheel start neutral
            synth.pitchbend(part.channel, 8192)
        events = []
        for n in notes:
            events.append((round(n.start_s * self.sample_rate), 1, n.channel, n.key, n.velocity))
            events.append((round((n.start_s + n.duration_s) * self.sample_rate), 0, n.channel, n.key, 0))
        for c in controls:  # kind -1: before the note-offs and note-ons of the same sample
            events.append((round(c.start_s * self.sample_rate), -1, c.channel, c.control, c.value))
        events.sort()
        total = round(duration_s * self.sample_rate)
        out = np.zeros((total, 2), np.float32)
        position = 0
        for sample, is_on, channel, key, velocity in events + [(total, 2, 0, 0, 0)]:
            sample = min(sample, total)
            if sample > position:
                out[position:sample] = np.frombuffer(synth.generate(sample - position), np.float32).reshape(-1, 2)
                position = sample
            if is_on == 1:
                synth.noteon(channel, key, velocity)
            elif is_on == 0:
                synth.noteoff(channel, key)
            elif is_on == -1 and key == PITCH_BEND:
                synth.pitchbend(channel, velocity)
            elif is_on == -1:
                synth.control_change(channel, key, velocity)
        self._reset()
        return out.mean(axis=1)

    def _reset(self) -> None:
        """Silence every voice and reset every channel, so no state leaks from one render to the next."""
        for soundfont in self.synth.soundfonts.values():
            soundfont.reset()  # voices get a 10 ms "quick release", not silence
        self.synth.channel.clear()
        self.synth.generate_simple(self.sample_rate // 10)  # let those releases end before the next render


def add_reverb(samples: np.ndarray, sample_rate: int, rng: np.random.Generator,
               rt60_s: float | None = None, wet: float | None = None) -> np.ndarray:
    """Convolve with an exponentially decaying noise impulse response (a plain room reverb)."""
    rt60_s = rt60_s if rt60_s is not None else float(rng.uniform(0.4, 1.6))
    wet = wet if wet is not None else float(rng.uniform(0.15, 0.35))
    t = np.arange(int(rt60_s * sample_rate)) / sample_rate
    impulse = rng.standard_normal(t.size) * np.exp(-6.91 * t / rt60_s)  # -60 dB at rt60
    impulse /= np.sqrt(np.sum(impulse**2))
    n_fft = 1 << int(np.ceil(np.log2(samples.size + impulse.size)))
    tail = np.fft.irfft(np.fft.rfft(samples, n_fft) * np.fft.rfft(impulse, n_fft), n_fft)[: samples.size]
    return ((1 - wet) * samples + wet * tail).astype(np.float32)


def _reverse_bits_table() -> bytes:
    return bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


_REVERSE_BITS = _reverse_bits_table()


def ogg_crc(data: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, init 0) computed with zlib's reflected CRC."""
    raw = zlib.crc32(data.translate(_REVERSE_BITS), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{raw:032b}"[::-1], 2)


def fix_ogg_serial(data: bytes, serial: int = 0x696E7374) -> bytes:
    """libvorbis picks a random stream serial number; set a fixed one (and fix each page's CRC)."""
    buf = bytearray(data)
    pos = 0
    while pos < len(buf):
        if buf[pos:pos + 4] != b"OggS":
            raise ValueError("not an Ogg stream")
        n_segments = buf[pos + 26]
        size = 27 + n_segments + sum(buf[pos + 27:pos + 27 + n_segments])
        buf[pos + 14:pos + 18] = serial.to_bytes(4, "little")
        buf[pos + 22:pos + 26] = b"\0\0\0\0"
        buf[pos + 22:pos + 26] = ogg_crc(bytes(buf[pos:pos + size])).to_bytes(4, "little")
        pos += size
    return bytes(buf)


def write_audio(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write .ogg (Vorbis, byte-reproducible) or .wav (16-bit PCM) atomically."""
    buffer = io.BytesIO()
    if path.suffix == ".ogg":
        sf.write(buffer, samples, sample_rate, format="OGG", subtype="VORBIS")
        data = fix_ogg_serial(buffer.getvalue())
    else:
        sf.write(buffer, samples, sample_rate, format="WAV", subtype="PCM_16")
        data = buffer.getvalue()
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
