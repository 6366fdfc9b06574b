"""How far does looping the same music without a pause move a model's answer?

Each clip of the held-out bank fixtures (``tests/fixtures/held-out-bank``, 10 s rendered clips of known content)
is predicted alone and tiled 3 and 18 times end to end; printed per clip and copies: the largest change of any
class's probability and the instruments reported that the clip alone does not report (or drops).

    python scripts/loop_probe.py MODEL [MODEL ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "held-out-bank"


def loop_changes(model, copies=(3, 18)) -> list[dict]:
    from instrec.audio import load_audio

    rows = []
    for path in sorted(FIXTURES.glob("*.ogg")):
        music = load_audio(path)
        alone = model.predict(music, sample_rate=16000)
        for n in copies:
            looped = model.predict(np.tile(music, n), sample_rate=16000)
            a, b = {c for c, _ in alone.instruments()}, {c for c, _ in looped.instruments()}
            rows.append({"clip": path.stem, "copies": n, "max_change": float(np.abs(looped.probs - alone.probs).max()),
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
            print(f"  {r['clip']} x{r['copies']}: max change {r['max_change']:.3f}"
                  + (f", added {','.join(r['added'])}" if r["added"] else "")
                  + (f", dropped {','.join(r['dropped'])}" if r["dropped"] else ""))
        changes = [r["max_change"] for r in rows]
        print(f"  largest {max(changes):.3f}, median {np.median(changes):.3f}, "
              f"changed answers {sum(bool(r['added'] or r['dropped']) for r in rows)} of {len(rows)}")


if __name__ == "__main__":
    main()
