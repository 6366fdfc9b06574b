"""Render speed of the embedded-default datasets (x real time), with the cost split measured in one run.

Renders OpenMIC-style 10 s clips (synthesis, chain, Ogg encoding and the atomic write) from the bank pool
(every fetched default bank) with all cores through the dataset's worker pool, dry and with the full
recording chain, in alternation (this machine drifts), and prints x real time for each, the ratio
chain / dry, and how the time of one clip divides between synthesis, the chain and Ogg encoding.
Loading the banks is timed apart: it happens once per dataset, not per clip.
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

from instrec.datasets.synth.openmic import ClipJob, available_classes, render_clip  # noqa: E402
from instrec.datasets.synth.pool import render_all  # noqa: E402
from instrec.datasets.synth.recording import apply_chain, draw_chain  # noqa: E402
from instrec.datasets.synth.render import Renderer  # noqa: E402
from instrec.datasets.synth.soundfonts import bank_name, pool_paths  # noqa: E402

CLIPS = 160


def main() -> None:
    pool = pool_paths()
    start = time.perf_counter()
    renderer = Renderer(pool, 16000)
    load_s = time.perf_counter() - start
    available = available_classes(renderer)
    speed = {"dry": [], "chain": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(3):
            for mode in ("dry", "chain"):
                jobs = [ClipJob(i, round_, f"{tmp}/{mode}{round_}", available, 16000, recording=mode == "chain")
                        for i in range(CLIPS)]
                start = time.perf_counter()
                render_all(render_clip, jobs, renderer, desc=mode)
                speed[mode].append(CLIPS * 10.0 / (time.perf_counter() - start))
    job = ClipJob(0, 0, "", available, 16000, write=False, recording=False)
    audio = render_clip(renderer, job)["audio"]
    chains = [draw_chain(np.random.default_rng(i)) for i in range(20)]
    t_render = best_time(lambda: render_clip(renderer, job))
    t_chain = best_time(lambda: [apply_chain(audio, 16000, c) for c in chains]) / len(chains)
    t_encode = best_time(lambda: sf.write(io.BytesIO(), audio, 16000, format="OGG", subtype="VORBIS"))
    dry, chain = max(speed["dry"]), max(speed["chain"])
    print(f"banks: {', '.join(bank_name(p) for p in pool)} (loading {load_s:.1f} s, once per dataset)")
    print(f"openmic clips, all cores, dry:        {dry:6.0f}x real time")
    print(f"openmic clips, all cores, full chain: {chain:6.0f}x real time (target >= 300x); chain / dry {chain / dry:.2f}")
    total = t_render + t_chain + t_encode
    print(f"one 10 s clip: synthesis {t_render * 1e3:.1f} ms ({t_render / total:.0%}), recording chain "
          f"{t_chain * 1e3:.1f} ms ({t_chain / total:.0%}, mean of 20 drawn chains), Vorbis encoding "
          f"{t_encode * 1e3:.1f} ms ({t_encode / total:.0%})")
    assert np.isfinite(audio).all()


if __name__ == "__main__":
    main()
