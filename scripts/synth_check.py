"""The modelled synthesizer, measured: synthesizers the model did not hear, and where it says synthesizer without one.

Held-out presets: ``--pieces`` solo pieces of 10 s played (``parts.play_part``) from 24 presets of
``datasets/synth/synthesizer.py`` drawn from the stream training never draws (``HELD_OUT_STREAM``), each through
the recording chain. Independent sounds: 24 pieces made by separate code here, not by the generator (naive
oscillators at 48 kHz from scipy, one static ladder filter, chorus and reverb: a saw lead, a supersaw pad in chords,
a square bass, a pulse arpeggio, a triangle lead and a saw bass, each in four keys and tempos). Per model: the
share of pieces with synthesizer in its top 3 and reported (at the model's threshold), and how many independent
pieces are reported as accordion or banjo (the shipped model's answers to a saw lead and a pulse arpeggio).
False alarms: every file of real-dev and of the test fixtures (none a synthesizer): where synthesizer is reported,
and where it is the first class. Evaluation only.

    python scripts/synth_check.py [MODEL ...] [--pieces 40]   # default: the shipped model
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

SR = 48000


def held_out_pieces(count: int, seed: int = 101) -> list[np.ndarray]:
    from instrec.datasets.synth.modelled import solo_pieces
    from instrec.datasets.synth.parts import draw_source
    from instrec.datasets.synth.synthesizer import HELD_OUT_STREAM, synthesizer_sources

    sources = synthesizer_sources(seed=seed, stream=HELD_OUT_STREAM)
    rng = np.random.default_rng(seed)
    return [solo_pieces(draw_source(sources, rng), rng, 1)[0] for _ in range(count)]


def independent_pieces() -> dict[str, np.ndarray]:
    """Synthesizer lines written apart from the generator, at 48 kHz (resampled by predict)."""
    import pedalboard as pb
    from scipy.signal import sawtooth, square

    rng = np.random.default_rng(7)

    def osc(kind, f, n, cents=0.0):
        t = np.arange(n) / SR
        ph = rng.uniform(0, 1)
        f = f * 2 ** (cents / 1200)
        wave = {"saw": lambda: sawtooth(2 * np.pi * (f * t + ph)), "square": lambda: square(2 * np.pi * (f * t + ph)),
                "pulse": lambda: square(2 * np.pi * (f * t + ph), duty=0.25),
                "tri": lambda: sawtooth(2 * np.pi * (f * t + ph), 0.5)}
        return wave[kind]()

    def env(n, a, d, s, r):
        e = np.full(n, s)
        a_, d_, r_ = int(a * SR), int(d * SR), int(r * SR)
        e[:a_] = np.linspace(0, 1, a_)
        e[a_:a_ + d_] = np.linspace(1, s, len(e[a_:a_ + d_]))
        e[-r_:] *= np.linspace(1, 0, r_)
        return e

    def note(kind, key, dur, voices=1, spread=12.0, a=0.01, d=0.2, s=0.7, r=0.1):
        n = int(dur * SR)
        f = 440 * 2 ** ((key - 69) / 12)
        return sum(osc(kind, f, n, c) for c in np.linspace(-spread, spread, voices)) / voices * env(n, a, d, s, r)

    def line(kind, keys, dur, **kw):
        return np.concatenate([note(kind, k, dur, **kw) for k in keys])

    def fx(x, cutoff, resonance=0.3, reverb=0.2, chorus=False):
        chain = [pb.LadderFilter(mode=pb.LadderFilter.Mode.LPF24, cutoff_hz=cutoff, resonance=resonance, drive=1.0)]
        if chorus:
            chain.append(pb.Chorus())
        chain.append(pb.Reverb(room_size=0.5, wet_level=reverb))
        y = pb.Pedalboard(chain)(x[None].astype(np.float32), SR)[0]
        return (0.3 * y / np.abs(y).max()).astype(np.float32)

    melody = [69, 72, 74, 76, 74, 72, 69, 67, 69, 72, 76, 79, 77, 76, 74, 72]
    bass = [33, 33, 45, 33, 36, 36, 48, 36, 31, 31, 43, 31, 28, 28, 40, 28]
    chords = [(57, 60, 64), (53, 57, 60), (55, 59, 62), (52, 55, 59)]
    out = {}
    for v, (shift, beat) in enumerate([(0, 0.6), (-5, 0.5), (3, 0.7), (-2, 0.45)]):
        mel, low = [k + shift for k in melody], [k + shift for k in bass]
        out[f"saw lead {v}"] = fx(line("saw", mel, beat, voices=2, spread=8), 3000, 0.4)
        out[f"supersaw pad {v}"] = fx(np.concatenate([sum(note("saw", k + shift, 4 * beat + 0.3, voices=7, spread=20,
                                                             a=0.6, s=0.8, r=0.6) for k in c) for c in chords]),
                                      2500, 0.2, 0.4, True)
        out[f"square bass {v}"] = fx(line("square", low, beat, d=0.1, s=0.5), 800, 0.5, 0.05)
        out[f"pulse arpeggio {v}"] = fx(line("pulse", [60 + shift, 64 + shift, 67 + shift, 72 + shift] * 8, beat / 2,
                                             d=0.15, s=0.0, r=0.05), 2000, 0.6, 0.3)
        out[f"triangle lead {v}"] = fx(line("tri", mel, beat), 5000, 0.1, 0.2)
        out[f"saw bass {v}"] = fx(line("saw", low, beat, d=0.1, s=0.6), 600, 0.7, 0.05)
    return out


def check(model, held: list[np.ndarray], independent: dict[str, np.ndarray], files) -> dict:
    from mandolin_check import false_alarms

    from instrec.datasets.synth.parts import SAMPLE_RATE

    k = model.classes.index("synthesizer")
    trained = np.array(model.trained, bool)

    def ranked(audio, rate=None):
        probs = model.predict(audio, sample_rate=rate).probs if rate else model.predict(audio).probs
        order = np.argsort(-np.where(trained, probs, -1.0))
        return probs, int(np.flatnonzero(order == k)[0])

    held_ranks = [ranked(a, SAMPLE_RATE) for a in held]
    ind = {name: ranked(a, SR) for name, a in independent.items()}
    others = [model.classes.index(c) for c in ("accordion", "banjo")]
    alarms, firsts = false_alarms(model, k, files, ranked)
    share = lambda rows, f: float(np.mean([f(p, r) for p, r in rows]))  # noqa: E731
    return {"held_top3": share(held_ranks, lambda p, r: r < 3),
            "held_reported": share(held_ranks, lambda p, r: p[k] >= model.threshold),
            "independent_top3": share(ind.values(), lambda p, r: r < 3),
            "independent_reported": share(ind.values(), lambda p, r: p[k] >= model.threshold),
            "independent_accordion_or_banjo": int(sum(any(p[o] >= model.threshold for o in others)
                                                      for p, _ in ind.values())),
            "independent": {n: [model.classes[j] for j in np.argsort(-np.where(trained, p, -1.0))[:3]]
                            for n, (p, _) in ind.items()},
            "files": len(files), "alarms": alarms, "first": firsts}


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from mandolin_check import real_files

    from instrec.predict import SHIPPED, load_model

    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--pieces", type=int, default=40)
    args = parser.parse_args()
    held, independent, files = held_out_pieces(args.pieces), independent_pieces(), real_files()
    for path in args.models or [SHIPPED]:
        r = check(load_model(path), held, independent, files)
        print(f"{path}: held-out presets ({len(held)} pieces): synthesizer in the top 3 {r['held_top3']:.2f}, "
              f"reported {r['held_reported']:.2f}; independent sounds ({len(independent)}): top 3 "
              f"{r['independent_top3']:.2f}, reported {r['independent_reported']:.2f}, accordion or banjo reported "
              f"on {r['independent_accordion_or_banjo']}; real files ({r['files']}): synthesizer reported on "
              f"{len(r['alarms'])} {r['alarms']}, first on {len(r['first'])} {r['first']}")
        for name, top in r["independent"].items():
            print(f"  {name}: {', '.join(top)}")


if __name__ == "__main__":
    main()
