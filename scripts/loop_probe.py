"""How far does looping the same music without a pause, or cutting it at another point, move a model's answer?

Each clip of the held-out bank fixtures (``tests/fixtures/held-out-bank``, 10 s rendered clips of known content)
is predicted alone, tiled 3 and 18 times end to end, and with its first 5, 10, 20, 40 or 80 ms cut off (the
frames then fall elsewhere in the music); printed per clip and case: the largest change of any class's
probability and the instruments reported that the clip alone does not report (or drops).

    python scripts/loop_probe.py MODEL [MODEL ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "held-out-bank"


def loop_changes(model, copies=(3, 18), cuts_ms=(5, 10, 20, 40, 80)) -> list[dict]:
    from instrec.audio import load_audio

    rows = []
    for path in sorted(FIXTURES.glob("*.ogg")):
        music = load_audio(path)
        alone = model.predict(music, sample_rate=16000)
        start = int(np.flatnonzero(music)[0])  # the cut is counted from the first sound
        cases = [(f"x{n}", np.tile(music, n)) for n in copies]
        cases += [(f"cut {ms} ms", music[start + ms * 16:]) for ms in cuts_ms]
        for case, signal in cases:
            other = model.predict(signal, sample_rate=16000)
            a, b = {c for c, _ in alone.instruments()}, {c for c, _ in other.instruments()}
            rows.append({"clip": path.stem, "case": case, "max_change": float(np.abs(other.probs - alone.probs).max()),
                         "added": sorted(b - a), "dropped": sorted(a - b)})
    return rows


def main() -> None:
    from instrec.predict import load_model

    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()
    for name in args.models:
        rows = loop_changes(load_model(name))
        print(f"{name}:")
        for r in rows:
            print(f"  {r['clip']} {r['case']}: max change {r['max_change']:.3f}"
                  + (f", added {','.join(r['added'])}" if r["added"] else "")
                  + (f", dropped {','.join(r['dropped'])}" if r["dropped"] else ""))
        for kind in ("x", "cut"):
            part = [r for r in rows if r["case"].startswith(kind)]
            changes = [r["max_change"] for r in part]
            print(f"  {'loops' if kind == 'x' else 'cuts'}: largest {max(changes):.3f}, median "
                  f"{np.median(changes):.3f}, changed answers {sum(bool(r['added'] or r['dropped']) for r in part)} "
                  f"of {len(part)}")


if __name__ == "__main__":
    main()
