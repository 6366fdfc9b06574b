"""End-to-end `predict` with the shipped model on a 3-minute 44.1 kHz stereo file (decode, resample, front
end, network, file decision and timeline): real-time factor, and its ratio to the network alone over the
same examples, measured in one run (target: >= 100x real time on 2 cores); and the cost of the shipped input-level
rule ("fixed": the log-mel kept until the file's peak is known, then re-levelled) against reading the file as it is;
and against the baseline, the same model with channels-first convolution weights (the layout before 6f9cbec); and
the cost of the shipped model's probe and gate (``convnet.Probed``) against its networks and head alone.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _layout import channels_first_weights  # noqa: E402
from _timing import best_time  # noqa: E402

from instrec.audio import load_audio  # noqa: E402
from instrec.predict import load_model  # noqa: E402

SECONDS = 180
MUSIC = Path(__file__).parent.parent / "tests" / "fixtures" / "real-dev" / \
    "librosa__442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.ogg"


def main() -> None:
    torch.set_num_threads(2)
    model = load_model()
    music = soxr.resample(load_audio(MUSIC), 16000, 44100)
    song = np.tile(music, SECONDS * 44100 // music.size + 1)[: SECONDS * 44100]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "song.wav"
        sf.write(path, np.stack([song, 0.8 * song], 1), 44100, subtype="PCM_16")
        model.predict(path)
        end_to_end = best_time(lambda: model.predict(path), repeats=3)
        as_it_is = load_model(input_level="none")
        unlevelled = best_time(lambda: as_it_is.predict(path), repeats=3)
        with channels_first_weights():
            channels_first = load_model()
        baseline = best_time(lambda: channels_first.predict(path), repeats=3)
        from instrec.predict import SHIPPED
        from instrec.probe import networks_only

        networks = load_model(networks_only(SHIPPED, Path(tmp) / "networks"))
        unprobed = best_time(lambda: networks.predict(path), repeats=3)
        steps = np.concatenate([model._features(torch.rand(64, 96, 64) * 8 - 4) for _ in range(3)])[
            : int(SECONDS / 0.96) * model.representation_steps]
        silent = np.zeros(len(steps) // model.representation_steps, bool)
        from instrec.predict import EXAMPLE_SAMPLES

        placed = {"start": np.arange(len(silent)) * EXAMPLE_SAMPLES, "phase": np.zeros(len(silent), int),
                  "segment": np.zeros(len(silent), int)}
        total = len(silent) * EXAMPLE_SAMPLES + 240
        network = best_time(lambda: model._classify(steps, silent, "bench", placed, total), repeats=3)
    print(f"predict on a {SECONDS} s 44.1 kHz stereo file: {end_to_end:.2f} s, {SECONDS / end_to_end:.0f}x real time "
          "(target >= 100x)")
    print(f"the network alone on its {len(silent)} examples: {network:.2f} s, {SECONDS / network:.0f}x real time")
    print(f"predict / network time: {end_to_end / network:.2f} (everything but the network costs "
          f"{1 - network / end_to_end:.0%})")
    print(f"channels-first weights (baseline): {baseline:.2f} s, {SECONDS / baseline:.0f}x real time; predict / "
          f"baseline time: {end_to_end / baseline:.2f} ({baseline / end_to_end:.2f}x faster)")
    print(f"input level {model.input_level} / none: {end_to_end / unlevelled:.2f} ({unlevelled:.2f} s as it is)")
    print(f"with the probe and gate / the networks and head alone: {end_to_end / unprobed:.2f} ({unprobed:.2f} s "
          "without them)")


if __name__ == "__main__":
    main()
