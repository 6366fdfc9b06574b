"""What a recording does to a sound: room, microphone, noise, band limit, level and compression, clipping, codec.

``draw_chain(rng)`` draws every parameter from a seeded generator into a plain dict (stored in the
dataset's metadata); ``apply_chain(audio, sample_rate, params)`` applies it. A step whose entry is
``None`` is skipped, so each step can be tested alone. Libraries, not hand-written DSP:

- room: pyroomacoustics' image-source model of a shoebox room whose wall absorption gives the drawn
  RT60 (Sabine), with source and microphone placed in it, for the early reflections, and a statistical
  late tail at that RT60 (``room_impulse_response``); convolved with scipy's FFT convolution. Real early
  reflections and a distance-dependent direct-to-reverberant ratio, which a plain noise tail does not give.
- microphone/EQ colouring, band limit, compression, codec: pedalboard (JUCE filters, compressor and the
  LAME MP3 encoder in C++), fast enough that the chain costs less than rendering.
- noise: white, pink or brown (spectrally shaped Gaussian noise, or a hum with harmonics) scaled to the
  drawn signal-to-noise ratio over the whole clip.
"""

from __future__ import annotations

import numpy as np

NOISE_COLOURS = ("white", "pink", "brown", "hum")
PEAK_DBFS = (-18.0, -1.0)  # the range a clip's peak level is drawn in (predict's input-level rules read it too)


def draw_chain(rng: np.random.Generator, room_probability: float = 0.7, noise_probability: float = 0.6,
               band_limit_probability: float = 0.25, compress_probability: float = 0.5,
               codec_probability: float = 0.2) -> dict:
    """Random parameters of one recording chain (JSON-ready; a skipped step is None)."""
    def maybe(p: float) -> bool:
        return bool(rng.random() < p)

    chain: dict = {"room": None, "mic": None, "noise": None, "band_limit": None, "compressor": None, "codec": None}
    if maybe(room_probability):
        size = rng.uniform([3.0, 2.5, 2.4], [18.0, 14.0, 8.0])
        volume, surface = size.prod(), 2 * (size[0] * size[1] + size[1] * size[2] + size[0] * size[2])
        shortest = 24 * np.log(10) / 343.0 * volume / surface  # Sabine's RT60 with fully absorbing walls
        rt60 = float(rng.uniform(max(0.15, 1.25 * shortest), max(0.3, 1.6 if volume > 150 else 0.9, 1.5 * shortest)))
        source = rng.uniform(0.1, 0.9, 3) * size
        mic = rng.uniform(0.1, 0.9, 3) * size
        chain["room"] = {"size_m": np.round(size, 2).tolist(), "rt60_s": round(rt60, 3),
                         "source_m": np.round(source, 2).tolist(), "mic_m": np.round(mic, 2).tolist(), "seed": int(rng.integers(2**31))}
    if maybe(0.8):
        chain["mic"] = {"highpass_hz": round(float(rng.uniform(20, 150)), 1),
                        "low_shelf_db": round(float(rng.uniform(-6, 6)), 2),
                        "presence_hz": round(float(rng.uniform(1500, 6000)), 1),
                        "presence_db": round(float(rng.uniform(-6, 6)), 2),
                        "high_shelf_db": round(float(rng.uniform(-9, 4)), 2)}
    if maybe(noise_probability):
        chain["noise"] = {"colour": str(rng.choice(NOISE_COLOURS, p=[0.3, 0.35, 0.2, 0.15])),
                          "snr_db": round(float(rng.uniform(8, 45)), 2),
                          "hum_hz": float(rng.choice([50.0, 60.0])), "seed": int(rng.integers(2**31))}
    if maybe(band_limit_probability):
        chain["band_limit"] = {"highpass_hz": round(float(rng.uniform(80, 400)), 1),
                               "lowpass_hz": round(float(rng.uniform(2500, 7000)), 1)}
    if maybe(compress_probability):
        chain["compressor"] = {"threshold_db": round(float(rng.uniform(-30, -10)), 2),
                               "ratio": round(float(rng.uniform(1.5, 4.0)), 2)}
    chain["level_dbfs"] = round(float(rng.uniform(*PEAK_DBFS)), 2)  # the clip's peak
    if maybe(codec_probability):
        chain["codec"] = {"format": "mp3", "vbr_quality": round(float(rng.uniform(2, 9)), 2)}
    return chain


def draw_degradation(rng: np.random.Generator, clip_probability: float = 0.5) -> dict:
    """A worn recording's chain: the recording chain drawn with a room 30 %, noise 60 %, band limit 30 %,
    compressor 30 % and MP3 40 % of the time, and clipping (``clip_probability``: 3 to 24 dB of gain past full
    scale into a hard clip or a tanh). Clipping is drawn after the rest, so the other steps are those of
    ``draw_chain`` with these probabilities."""
    chain = draw_chain(rng, room_probability=0.3, noise_probability=0.6, band_limit_probability=0.3,
                       compress_probability=0.3, codec_probability=0.4)
    if rng.random() < clip_probability:
        chain["clip"] = {"drive_db": round(float(rng.uniform(3, 24)), 2), "shape": str(rng.choice(["hard", "soft"]))}
    else:
        chain["clip"] = None
    return chain


MIXING_TIME_S = 0.08  # after this, the late reverberation is diffuse: modelled statistically


def room_impulse_response(room: dict, sample_rate: int) -> np.ndarray:
    """The room's impulse response: early reflections from pyroomacoustics' image sources (order <= 10,
    walls absorbing per Sabine for the RT60), then a diffuse late tail -- Gaussian noise decaying 60 dB
    in RT60, seeded by the room and matched in level to the image-source response at the mixing time
    (the image-source model at the full order costs seconds per room, and truncated it decays too fast)."""
    import pyroomacoustics as pra

    size = room["size_m"]
    absorption, max_order = pra.inverse_sabine(room["rt60_s"], size)
    shoebox = pra.ShoeBox(size, fs=sample_rate, materials=pra.Material(absorption),
                          max_order=min(max_order, 10), use_rand_ism=False)
    shoebox.add_source(room["source_m"])
    shoebox.add_microphone(room["mic_m"])
    shoebox.compute_rir()
    early = np.asarray(shoebox.rir[0][0], np.float64)
    direct = int(np.argmax(np.abs(early)))
    mix = direct + int(MIXING_TIME_S * sample_rate)
    rt60 = room["rt60_s"]
    length = max(mix + int(1.2 * rt60 * sample_rate), early.size)
    rng = np.random.default_rng(room.get("seed", 0))
    t = np.arange(length - mix) / sample_rate
    tail = rng.standard_normal(t.size) * np.exp(-6.91 * t / rt60)
    window = int(0.01 * sample_rate)  # match the energy of the 10 ms before the mixing time
    before = np.sum(early[max(mix - window, 0):mix] ** 2) if mix <= early.size else 0.0
    level = np.sqrt(before / max(np.sum(tail[:window] ** 2), 1e-20)) if before > 0 else 0.0
    rir = np.zeros(length)
    rir[: min(mix, early.size)] = early[:mix]
    rir[mix:] = tail * level
    return rir / (np.max(np.abs(rir)) + 1e-12)


def shaped_noise(colour: str, n: int, sample_rate: int, rng: np.random.Generator, hum_hz: float = 50.0) -> np.ndarray:
    """``n`` samples of white, pink (1/f) or brown (1/f^2) Gaussian noise, or mains hum with harmonics."""
    if colour == "hum":
        t = np.arange(n) / sample_rate
        hum = sum(np.sin(2 * np.pi * hum_hz * k * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 6))
        return hum + 0.05 * rng.standard_normal(n)
    white = rng.standard_normal(n)
    if colour == "white":
        return white
    spectrum = np.fft.rfft(white)
    freqs = np.maximum(np.fft.rfftfreq(n, 1 / sample_rate), 20.0)
    spectrum /= np.sqrt(freqs) if colour == "pink" else freqs  # 1/f or 1/f^2 power
    return np.fft.irfft(spectrum, n)


def add_noise(audio: np.ndarray, snr_db: float, colour: str, sample_rate: int, seed: int,
              hum_hz: float = 50.0) -> np.ndarray:
    """``audio`` plus noise at exactly ``snr_db`` (mean power over the clip)."""
    rng = np.random.default_rng(seed)
    noise = shaped_noise(colour, audio.size, sample_rate, rng, hum_hz)
    signal_power = float(np.mean(audio.astype(np.float64) ** 2))
    noise_power = float(np.mean(noise**2))
    if signal_power == 0 or noise_power == 0:
        return audio
    noise *= np.sqrt(signal_power / noise_power / 10 ** (snr_db / 10))
    return (audio + noise).astype(np.float32)


def apply_chain(audio: np.ndarray, sample_rate: int, chain: dict) -> np.ndarray:
    """Apply a drawn chain to mono float audio; same input and parameters give the same samples."""
    import pedalboard as pb
    from scipy.signal import fftconvolve

    x = np.asarray(audio, np.float32)
    if x.size == 0 or not np.any(x):
        return x
    if chain.get("room"):
        rir = room_impulse_response(chain["room"], sample_rate)
        x = fftconvolve(x, rir.astype(np.float32))[: x.size]
    if chain.get("noise"):
        n = chain["noise"]
        x = add_noise(x, n["snr_db"], n["colour"], sample_rate, n["seed"], n.get("hum_hz", 50.0))
    plugins = []
    if chain.get("mic"):
        m = chain["mic"]
        plugins += [pb.HighpassFilter(m["highpass_hz"]), pb.LowShelfFilter(250.0, m["low_shelf_db"]),
                    pb.PeakFilter(m["presence_hz"], m["presence_db"], 1.0),
                    pb.HighShelfFilter(min(6000.0, 0.4 * sample_rate), m["high_shelf_db"])]
    if chain.get("band_limit"):
        b = chain["band_limit"]
        # two cascaded 2nd-order sections per edge: 24 dB per octave, like a telephone or an old tape
        plugins += [pb.HighpassFilter(b["highpass_hz"]), pb.HighpassFilter(b["highpass_hz"]),
                    pb.LowpassFilter(b["lowpass_hz"]), pb.LowpassFilter(b["lowpass_hz"])]
    if chain.get("compressor"):
        c = chain["compressor"]
        plugins.append(pb.Compressor(threshold_db=c["threshold_db"], ratio=c["ratio"], attack_ms=5.0, release_ms=120.0))
    if plugins:
        x = pb.Pedalboard(plugins)(x[None, :], sample_rate)[0]
    if chain.get("clip"):  # a recorder driven past full scale: the peak at 0 dBFS, then drive_db more gain
        c = chain["clip"]
        x = x * (10 ** (c["drive_db"] / 20) / max(float(np.max(np.abs(x))), 1e-12))
        x = np.clip(x, -1.0, 1.0) if c["shape"] == "hard" else np.tanh(x)
    peak = float(np.max(np.abs(x)))
    if "level_dbfs" in chain and peak > 0:
        x = x * (10 ** (chain["level_dbfs"] / 20) / peak)
    if chain.get("codec"):
        y = pb.MP3Compressor(chain["codec"]["vbr_quality"])(x[None, :].astype(np.float32), sample_rate, reset=True)[0]
        x = y
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def describe(chain: dict) -> list[str]:
    """Freesound-style tags for what the chain did (bank-independent)."""
    tags = []
    room = chain.get("room")
    if room:
        tags += ["reverb", "room", "hall" if room["rt60_s"] > 1.0 else "live-room" if room["rt60_s"] > 0.5 else "small-room"]
    else:
        tags.append("dry")
    if chain.get("noise"):
        tags += ["noisy"] + (["hum"] if chain["noise"]["colour"] == "hum" else [])
        if chain["noise"]["snr_db"] < 20:
            tags.append("field-recording")
    if chain.get("band_limit"):
        tags.append("lo-fi")
    if chain.get("codec"):
        tags.append("mp3")
    if chain.get("clip"):
        tags.append("clipped")
    return tags
