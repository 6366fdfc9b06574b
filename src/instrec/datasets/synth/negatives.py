"""Sounds that are no instrument: test tones, sweeps, two-tone signalling, mains hum, noise, applause.

A tagger trained only on music calls a 440 Hz sine "mallet percussion" and pink noise "bass". These generated
sounds are training negatives (every class labelled absent) and, drawn with other seeds, a test set
(``test_signals``). Each generator returns ``seconds`` of mono float32 audio at 16 kHz with its parameters.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
KINDS = ("tone", "sweep", "two_tone", "hum", "noise", "applause", "tone_in_noise")
# DTMF: the row and column frequencies of a telephone keypad (Hz)
DTMF_LOW, DTMF_HIGH = (697, 770, 852, 941), (1209, 1336, 1477, 1633)


def _time(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE


def tone(frequency_hz: float, seconds: float = 10.0) -> np.ndarray:
    return np.sin(2 * np.pi * frequency_hz * _time(seconds))


def sweep(low_hz: float, high_hz: float, seconds: float = 10.0, logarithmic: bool = True) -> np.ndarray:
    """A sine whose frequency moves from ``low_hz`` to ``high_hz`` (exponentially or linearly) over the sound."""
    t = _time(seconds)
    if logarithmic and high_hz != low_hz:
        ratio = high_hz / low_hz
        phase = 2 * np.pi * low_hz * seconds / np.log(ratio) * (ratio ** (t / seconds) - 1)
    else:
        phase = 2 * np.pi * (low_hz * t + (high_hz - low_hz) * t**2 / (2 * seconds))
    return np.cos(phase)


def two_tone(pairs: list[tuple[float, float]], on_s: float, off_s: float, seconds: float = 10.0) -> np.ndarray:
    """Two-tone signalling (DTMF and the like): each pair sounds ``on_s``, then ``off_s`` of silence."""
    t = _time(seconds)
    out = np.zeros_like(t)
    period = on_s + off_s
    for k, start in enumerate(np.arange(0.0, seconds, period)):
        low, high = pairs[k % len(pairs)]
        on = (t >= start) & (t < start + on_s)
        out[on] = 0.5 * (np.sin(2 * np.pi * low * t[on]) + np.sin(2 * np.pi * high * t[on]))
    return out


def hum(mains_hz: float, harmonics: int, rng: np.random.Generator, seconds: float = 10.0) -> np.ndarray:
    t = _time(seconds)
    return sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * mains_hz * k * t + rng.uniform(0, 2 * np.pi))
               for k in range(1, harmonics + 1))


def noise(colour: str, rng: np.random.Generator, seconds: float = 10.0) -> np.ndarray:
    from instrec.datasets.synth.recording import shaped_noise

    return shaped_noise(colour, int(seconds * SAMPLE_RATE), SAMPLE_RATE, rng)


def applause(claps_per_s: float, rng: np.random.Generator, seconds: float = 10.0) -> np.ndarray:
    """Many hands clapping: short band-passed noise bursts with fast decays at random times (a dozen clap
    sounds, each placed many times at its own gain)."""
    from scipy.signal import butter, sosfilt

    n = int(seconds * SAMPLE_RATE)
    length = SAMPLE_RATE // 20
    claps = []
    for _ in range(12):
        low = rng.uniform(500, 1500)
        sos = butter(2, [low, min(low * rng.uniform(2, 5), 7500)], "bandpass", fs=SAMPLE_RATE, output="sos")
        envelope = np.exp(-np.arange(length) / (SAMPLE_RATE * rng.uniform(0.006, 0.015)))
        claps.append(sosfilt(sos, rng.standard_normal(length)) * envelope)
    out = np.zeros(n + length)
    count = int(claps_per_s * seconds)
    for start, which, gain in zip(rng.integers(0, n, count), rng.integers(0, len(claps), count),
                                  rng.uniform(0.2, 1.0, count)):
        out[start:start + length] += gain * claps[which]
    return out[:n]


def negative(kind: str, rng: np.random.Generator, seconds: float = 10.0) -> tuple[np.ndarray, dict]:
    """One drawn sound of ``kind`` (``KINDS``), peak 1: (audio, parameters)."""
    if kind == "tone":
        params = {"frequency_hz": round(float(np.exp(rng.uniform(np.log(60), np.log(6000)))), 1)}
        x = tone(params["frequency_hz"], seconds)
    elif kind == "sweep":
        low, high = sorted(np.exp(rng.uniform(np.log(20), np.log(7900), 2)))
        params = {"low_hz": round(float(low), 1), "high_hz": round(float(max(high, 2 * low)), 1),
                  "logarithmic": bool(rng.random() < 0.6)}
        x = sweep(params["low_hz"], min(params["high_hz"], 7900), seconds, params["logarithmic"])
    elif kind == "two_tone":
        count = int(rng.integers(1, 8))
        pairs = [(float(rng.choice(DTMF_LOW)), float(rng.choice(DTMF_HIGH))) for _ in range(count)]
        if rng.random() < 0.3:  # other two-tone systems: two arbitrary frequencies
            pairs = [tuple(sorted(rng.uniform(300, 3000, 2).round(1).tolist())) for _ in range(count)]
        params = {"pairs": pairs, "on_s": round(float(rng.uniform(0.05, 2.0)), 3), "off_s": round(float(rng.uniform(0.0, 1.0)), 3)}
        x = two_tone(pairs, params["on_s"], params["off_s"], seconds)
    elif kind == "hum":
        params = {"mains_hz": float(rng.choice([50.0, 60.0])), "harmonics": int(rng.integers(1, 12))}
        x = hum(params["mains_hz"], params["harmonics"], rng, seconds) + 0.01 * rng.standard_normal(int(seconds * SAMPLE_RATE))
    elif kind == "noise":
        params = {"colour": str(rng.choice(["white", "pink", "brown"]))}
        x = noise(params["colour"], rng, seconds)
    elif kind == "applause":
        params = {"claps_per_s": round(float(rng.uniform(50, 300)), 1)}
        x = applause(params["claps_per_s"], rng, seconds)
    elif kind == "tone_in_noise":
        params = {"frequency_hz": round(float(rng.uniform(100, 4000)), 1), "snr_db": round(float(rng.uniform(0, 30)), 1)}
        signal = tone(params["frequency_hz"], seconds)
        x = signal + noise("pink", rng, seconds) * np.sqrt(0.5 / 10 ** (params["snr_db"] / 10)) / 0.3
    else:
        raise ValueError(f"unknown negative kind {kind!r}; use one of {', '.join(KINDS)}")
    x = np.asarray(x, np.float64)
    return (x / max(1e-12, float(np.abs(x).max()))).astype(np.float32), {"kind": kind, **params}


def test_signals(seconds: float = 10.0) -> dict[str, np.ndarray]:
    """The fixed test set named in the model card: a 440 Hz sine, a 50 Hz-8 kHz sweep, DTMF digits, 50 Hz and
    60 Hz hum, pink and white noise, applause (peak -6 dBFS each)."""
    rng = np.random.default_rng(12345)
    signals = {"sine-440Hz": tone(440.0, seconds), "sine-1kHz": tone(1000.0, seconds),
               "sweep-50Hz-8kHz": sweep(50.0, 7999.0, seconds), "dtmf-digits": two_tone(
                   [(697, 1209), (770, 1336), (852, 1477), (941, 1336)], 0.2, 0.1, seconds),
               "hum-50Hz": hum(50.0, 6, rng, seconds), "hum-60Hz": hum(60.0, 3, rng, seconds),
               "pink-noise": noise("pink", rng, seconds), "white-noise": noise("white", rng, seconds),
               "applause": applause(120.0, rng, seconds)}
    return {name: (0.5 * x / np.abs(x).max()).astype(np.float32) for name, x in signals.items()}
