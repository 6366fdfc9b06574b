"""Mandolin notes from a physical model, for the one class no licensed recording reaches.

No recording of a mandolin is reachable from this project's sources (PyPI, Debian, npm), and the General MIDI banks
have no mandolin program. The best available way is the one of the Synthesis ToolKit (STK, Perry R. Cook and
Gary P. Scavone; MIT-style licence): *commuted synthesis*. A mandolin's sound is a pluck exciting a pair of steel
strings tuned in unison (a course), whose vibration the wooden body radiates; since these are linear, the body's
response can be put first, as the excitation of the strings. STK ships twelve such responses of a real mandolin,
recorded at twelve microphone positions (``mand1.raw`` ... ``mand12.raw``, 1024 samples at 22,050 Hz), in the
Debian package ``stk`` (4.6.2); ``fetch_bodies`` takes them from that package, each checked by its sha256.

A note (:func:`pluck`): a body response (drawn among the allowed ones, played at a drawn body size), softened by a
drawn pick, excites two strings a few cents apart (each a Karplus-Strong loop: a delay of one period, STK's
two-point averaging loss filter and a first-order all-pass for the fraction of a sample, a drawn loop gain: how
long the note rings), summed and comb-filtered at a drawn plucking point. It is computed at 44.1 kHz, as STK does,
and resampled. Our own code, following STK's ``Mandolin`` and ``Twang`` classes.

The notes become a ``parts.Source`` (:func:`mandolin_source`) and are played like the real libraries' notes
(``parts.STYLES``: tremolo, melody, strum, and one-shots), so the real stage hears mandolin parts alone, in duos
and bands, and over rendered clips. Training uses the bodies ``TRAIN_BODIES``; ``HELD_OUT_BODIES`` are kept for
measurement (a mandolin the model has not heard, as close as this project can get to one).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from instrec.errors import InstrecError

PACKAGE = "stk"
VERSION = "4.6.2+dfsg-2"
RAWWAVES = "usr/share/stk/rawwaves"
RAW_RATE = 22050  # STK's rawwaves: 16-bit big-endian mono at 22,050 Hz
MODEL_RATE = 44100
# the sha256 of each body response in the package (Debian bookworm, 4.6.2+dfsg-2)
BODY_SHA256 = {
    "mand1.raw": "5c8ceb469a57517cc9f847b870b1a7e7ce9d948b1038893cc5163d7f666e39e4",
    "mand2.raw": "ef77eae8bfdd2119ec95be5489c584c67148d6823785139d3c212efb5c816fa4",
    "mand3.raw": "5d014470e5b47cedd9b548c0404b78b4e630444486bd010c1cc81987dcafb775",
    "mand4.raw": "0214e79479d909d21799422ad4aa869965951259839860bc4f1dbd230bb65161",
    "mand5.raw": "c664721f0081694d9a0b54a078f3e7f3e5386b6cb8528a297fcd5e4195ac9280",
    "mand6.raw": "2b841479312d2c5db5446a180a9c052fca2341c12c50a73c08ac273f2223dbc5",
    "mand7.raw": "c1717ea91121449dbb5f9306581f32d0d56e97432ff202db654f48bf64d771cd",
    "mand8.raw": "c2ba6443222560b8abfa8554f07e4448567e9ee3323b3c5e32477528e572714a",
    "mand9.raw": "44ac373aa764cdad8588845916e075bb1c2752f7b3b510381a3257967d5bdb97",
    "mand10.raw": "b199bfd7295ea55ed8c0ae944e8d8333670ef3e43818f0e586b4f5f8e0a0f6ee",
    "mand11.raw": "c177000fa5524d948a82fc71f796f78c199ca9f414bf374172e2e92fb1cad832",
    "mand12.raw": "789af6e0abd508d23b4183b1ef223a3c21e8db633152cf862bbcee4068d67994",
}
BODIES = tuple(BODY_SHA256)
TRAIN_BODIES = tuple(range(8))  # mand1-mand8 train
HELD_OUT_BODIES = tuple(range(8, 12))  # mand9-mand12 are only heard in measurement
KEYS = (55, 88)  # G3 (the open fourth course) to E6, the range a mandolin is played in
LIBRARY = "stk.mandolin"


BANK = "stk-mandolin"  # its entry in soundfonts.BANKS: what `instrec soundfonts fetch` calls the body responses


def bodies_path() -> Path:
    from instrec.datasets.synth.soundfonts import BANKS, soundfont_dir

    return soundfont_dir() / BANKS[BANK].filename


def fetch_bodies(target: Path, deb_dir: str | Path | None = None) -> Path:
    """The twelve body responses from the Debian package (``deb_dir`` or ``apt-get download``), each verified, written
    to ``target`` as one 12-channel 16-bit WAV at 22,050 Hz (atomically)."""
    import soundfile as sf

    from instrec.datasets.synth.soundfonts import unpacked_deb, verified_member
    from instrec.io import atomic_path

    by_hand = (f"download {PACKAGE}_{VERSION}_amd64.deb and run `instrec soundfonts fetch stk-mandolin --deb-dir` on "
               "its folder")
    with unpacked_deb(PACKAGE, deb_dir, target.parent, by_hand, VERSION) as (deb, unpacked):
        channels = []
        for name, digest in BODY_SHA256.items():
            data = verified_member(deb, unpacked, PACKAGE, f"{RAWWAVES}/{name}", digest)
            channels.append(np.frombuffer(data, ">i2").astype(np.int16))
        length = max(c.size for c in channels)
        stacked = np.zeros((length, len(channels)), np.int16)
        for i, c in enumerate(channels):
            stacked[:c.size, i] = c
        with atomic_path(target) as out:
            sf.write(str(out), stacked, RAW_RATE, subtype="PCM_16", format="WAV")
    return target


def read_bodies(path: str | Path | None = None) -> np.ndarray:
    """The body responses (12, samples) as float64 at ``RAW_RATE``."""
    import soundfile as sf

    path = Path(path) if path else bodies_path()
    if not path.is_file():
        raise InstrecError(f"{path}: the mandolin's body responses are not here; run `instrec soundfonts fetch "
                           "stk-mandolin`")
    audio, rate = sf.read(str(path), dtype="float64", always_2d=True)
    if rate != RAW_RATE or audio.shape[1] != len(BODIES):
        raise InstrecError(f"{path}: not the {len(BODIES)} body responses at {RAW_RATE} Hz; delete it and run "
                           "`instrec soundfonts fetch stk-mandolin`")
    return audio.T


def string(excitation: np.ndarray, frequency: float, loop_gain: float, rate: int = MODEL_RATE) -> np.ndarray:
    """One string (STK's Twang) driven by ``excitation``: a loop of one period of delay, the averaging loss filter
    (half a sample), a first-order all-pass for the rest of the fraction, gain ``loop_gain`` (raised slightly with
    frequency, as STK's, at most 0.99999). Linear, so computed as one IIR filter."""
    from scipy.signal import lfilter

    gain = min(loop_gain + frequency * 0.000005, 0.99999)
    delay = rate / frequency - 0.5  # the loop's delay less the averaging filter's half sample
    whole = int(np.floor(delay))
    fraction = delay - whole
    if fraction < 0.5:  # keep the all-pass delay in [0.5, 1.5), where it is flat (STK's DelayA)
        fraction += 1.0
        whole -= 1
    a = (1.0 - fraction) / (1.0 + fraction)
    # Y = X + g z^-N (1 + z^-1)/2 (a + z^-1)/(1 + a z^-1) Y
    denominator = np.zeros(whole + 3)
    denominator[0], denominator[1] = 1.0, a
    denominator[whole:whole + 3] -= 0.5 * gain * np.array([a, 1.0 + a, 1.0])
    return lfilter([1.0, a], denominator, excitation)


def draw_note(rng: np.random.Generator, bodies: tuple[int, ...] = TRAIN_BODIES) -> dict:
    """A note's playing: which body response and how it is played (all drawn)."""
    return {"key": int(rng.integers(KEYS[0], KEYS[1] + 1)), "body": int(rng.choice(bodies)),
            "body_size": float(rng.uniform(0.8, 1.25)), "position": float(rng.uniform(0.15, 0.5)),
            "detune": float(rng.uniform(0.993, 0.9995)), "loop_gain": float(rng.uniform(0.985, 0.997)),
            "pick": float(rng.uniform(0.0, 0.6)), "seconds": float(rng.uniform(1.5, 3.0))}


def pluck(bodies: np.ndarray, key: int, body: int = 0, body_size: float = 1.0, position: float = 0.4,
          detune: float = 0.995, loop_gain: float = 0.995, pick: float = 0.0, seconds: float = 2.5,
          sample_rate: int = 16000, strings: int = 2) -> np.ndarray:
    """One plucked course at MIDI ``key``: mono float32 at ``sample_rate``, peak 1. ``body`` picks the response,
    ``body_size`` scales it (played at 22,050 x size Hz), ``position`` is STK's plucking point (the comb's delay
    half of it, in periods), ``detune`` the second string's frequency ratio (``strings`` 2, a mandolin's course; 1 a
    single string), ``pick`` how soft the pick is (a one-pole low-pass on the excitation, 0 none)."""
    import soxr
    from scipy.signal import lfilter

    frequency = 440.0 * 2 ** ((key - 69) / 12)
    excitation = soxr.resample(bodies[body], RAW_RATE * body_size, MODEL_RATE, quality="HQ")
    if pick > 0:
        excitation = lfilter([1.0 - pick], [1.0, -pick], excitation)
    x = np.zeros(int(seconds * MODEL_RATE))
    x[:min(x.size, excitation.size)] = excitation[:x.size]
    out = string(x, frequency, loop_gain)
    if strings == 2:
        out = out + string(x, frequency * detune, loop_gain)
    comb = max(1, int(round(0.5 * position * MODEL_RATE / frequency)))
    out[comb:] -= out[:-comb].copy()
    fade = int(0.05 * MODEL_RATE)
    out[-fade:] *= np.linspace(1.0, 0.0, fade)
    out = soxr.resample(out, MODEL_RATE, sample_rate, quality="HQ")
    peak = float(np.abs(out).max())
    return (out / peak if peak > 0 else out).astype(np.float32)


def played_notes(draw, count: int, seed: int, stream: int, strings: int = 2, bodies: tuple[int, ...] = TRAIN_BODIES,
                 path: str | Path | None = None, sample_rate: int = 16000) -> list[tuple[np.ndarray, dict]]:
    """``count`` notes of the model, each played as ``draw`` (a ``draw_note``) draws it with the random stream
    ``[seed, stream]`` from the allowed ``bodies``, on ``strings`` strings: (audio, how it was played)."""
    responses = read_bodies(path)
    rng = np.random.default_rng([seed, stream])
    out = []
    for _ in range(count):
        note = draw(rng, bodies)
        out.append((pluck(responses, sample_rate=sample_rate, strings=strings, **note), note))
    return out


def notes_source(label: str, library: str, notes: list[tuple[np.ndarray, dict]]):
    """Modelled ``notes`` as a ``parts.Source`` of ``label`` (library ``library``), each named by how it was played,
    so a clip's metadata traces every note."""
    from instrec.datasets.synth.parts import Source

    source = Source(label, library, library)
    for audio, note in notes:
        source.notes.append(audio)
        source.note_names.append(f"{library}/key{note['key']}-body{note['body'] + 1}-"
                                 f"{hashlib.sha256(repr(sorted(note.items())).encode()).hexdigest()[:8]}")
    return source


def mandolin_notes(count: int, seed: int, bodies: tuple[int, ...] = TRAIN_BODIES, path: str | Path | None = None,
                   sample_rate: int = 16000) -> list[tuple[np.ndarray, dict]]:
    """``count`` notes drawn with ``seed`` from the allowed ``bodies``: (audio, how it was played)."""
    return played_notes(draw_note, count, seed, 1207, 2, bodies, path, sample_rate)


def mandolin_source(count: int = 96, seed: int = 0, bodies: tuple[int, ...] = TRAIN_BODIES,
                    path: str | Path | None = None):
    """The modelled notes as a ``parts.Source`` of class mandolin (library ``stk.mandolin``)."""
    return notes_source("mandolin", LIBRARY, mandolin_notes(count, seed, bodies, path))
