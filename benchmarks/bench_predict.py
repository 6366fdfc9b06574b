"""End-to-end `predict` on a 3-minute file with a VGGish model: real-time factor, and its ratio to the raw
VGGish forward over the same number of examples, measured in one run (target: >= 80x real time).

The model is a vggish-random run trained for one epoch on a small rendered set (its accuracy is
irrelevant here: the cost is the same for any VGGish model).
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _timing import best_time  # noqa: E402

from instrec.audio import load_audio  # noqa: E402
from instrec.config import TrainConfig  # noqa: E402
from instrec.datasets.openmic import OpenMIC  # noqa: E402
from instrec.datasets.synth import synth_dataset  # noqa: E402
from instrec.predict import load_model  # noqa: E402
from instrec.representations.registry import build_representation  # noqa: E402
from instrec.training import run_training  # noqa: E402

SECONDS = 180


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = synth_dataset("openmic", Path(tmp) / "om", size=24, seed=0)
        rep = build_representation("vggish-random")
        run_training(data, rep, TrainConfig(epochs=1), Path(tmp) / "run")
        dataset = OpenMIC(data)
        clips = [load_audio(dataset.audio_path(k)) for k in dataset.keys("train")]
        song = np.concatenate(clips * 3)[: SECONDS * 16000]
        path = Path(tmp) / "song.flac"  # stereo FLAC: decoding and downmixing are part of the measured path
        sf.write(path, np.stack([song, song], 1), 16000)
        model = load_model(Path(tmp) / "run")
        model.predict(path)
        end_to_end = best_time(lambda: model.predict(path), repeats=2)
        n_examples = int(SECONDS / 0.96)
        batch = torch.randn(n_examples, 96, 64)
        raw = best_time(lambda: rep.embed(batch), repeats=2)
    print(f"predict on a {SECONDS} s file: {end_to_end:.2f} s, {SECONDS / end_to_end:.0f}x real time (target >= 80x)")
    print(f"raw VGGish forward of its {n_examples} examples: {raw:.2f} s, {SECONDS / raw:.0f}x real time")
    print(f"predict / raw forward time: {end_to_end / raw:.2f} (everything but the network costs {1 - raw / end_to_end:.0%})")


if __name__ == "__main__":
    main()
