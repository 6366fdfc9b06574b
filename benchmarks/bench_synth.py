"""Render speed of the embedded-default datasets (x real time), with the cost split measured in one run.

Renders OpenMIC-style 10 s clips with all cores and with one, and prints x real time for each,
plus how the time of one clip divides between synthesis and Ogg Vorbis encoding.
"""

import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).parent))
from _timing import best_time  # noqa: E402

from instrec.datasets.synth import synth_dataset  # noqa: E402
from instrec.datasets.synth.openmic import ClipJob, available_classes, render_clip  # noqa: E402
from instrec.datasets.synth.render import Renderer  # noqa: E402

CLIPS = 120


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for workers in (None, 1):
            start = time.perf_counter()
            synth_dataset("openmic", Path(tmp) / f"w{workers}", size=CLIPS, seed=0, workers=workers)
            results[workers] = CLIPS * 10.0 / (time.perf_counter() - start)
        start = time.perf_counter()
        synth_dataset("nsynth", Path(tmp) / "nsynth", size=300, seed=0)
        nsynth = 300 * 4.0 / (time.perf_counter() - start)
    renderer = Renderer(None, 16000)
    available = available_classes(renderer)
    job = ClipJob(0, 0, "", available, 16000, write=False)
    audio = render_clip(renderer, job)["audio"]
    t_render = best_time(lambda: render_clip(renderer, job))
    t_encode = best_time(lambda: sf.write(io.BytesIO(), audio, 16000, format="OGG", subtype="VORBIS"))
    print(f"openmic clips, all cores: {results[None]:7.0f}x real time (target >= 300x)")
    print(f"openmic clips, 1 process: {results[1]:7.0f}x real time  (all cores / one: {results[None] / results[1]:.2f})")
    print(f"nsynth notes, all cores:  {nsynth:7.0f}x real time")
    print(f"one 10 s clip: synthesis {10 / t_render:.0f}x, Vorbis encoding {10 / t_encode:.0f}x real time "
          f"(encoding share {t_encode / (t_render + t_encode):.0%})")
    assert np.isfinite(audio).all()


if __name__ == "__main__":
    main()
