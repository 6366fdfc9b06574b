"""Log-mel front end throughput on 10 minutes of audio, as ratios measured in one run.

Compares instrec.frontend.LogMel (float64 default and float32) with a vectorised NumPy
float64 implementation of the reference (vggish mel_features) and librosa's
melspectrogram (if installed; `pip install librosa`). Prints x real time and ratios.
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _timing import best_time  # noqa: E402

from instrec.frontend import LogMel, mel_matrix  # noqa: E402

SECONDS = 600
SR = 16000


def numpy_reference(x: np.ndarray, mel: np.ndarray) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(x, 400)[::160]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    return np.log(np.abs(np.fft.rfft(frames * window, 512)) @ mel + 0.01)


def main() -> None:
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(SECONDS * SR)).astype(np.float32)
    audio64 = audio.astype(np.float64)
    mel = mel_matrix()
    wave = torch.from_numpy(audio)
    results = {}
    with torch.inference_mode():
        for precision in ("float64", "float32"):
            module = LogMel(precision)
            results[f"instrec LogMel ({precision})"] = best_time(lambda: module(wave))
    results["numpy float64 reference"] = best_time(lambda: numpy_reference(audio64, mel))
    try:
        import librosa

        def run_librosa():
            librosa.feature.melspectrogram(
                y=audio, sr=SR, n_fft=512, win_length=400, hop_length=160, center=False,
                power=1.0, n_mels=64, fmin=125, fmax=7500, htk=True, norm=None,
            )

        run_librosa()  # warm-up (numba / caches)
        results["librosa melspectrogram"] = best_time(run_librosa)
    except ImportError:
        print("librosa not installed: pip install librosa to include it")
    ours = results["instrec LogMel (float64)"]
    print(f"{SECONDS / 60:.0f} min of audio, torch threads={torch.get_num_threads()}")
    for name, t in results.items():
        print(f"  {name:32s} {SECONDS / t:8.0f}x real time   instrec float64 is {t / ours:4.2f}x as fast")
    try:
        from instrec.representations.vggish import VGGish

        net = VGGish().eval().to(memory_format=torch.channels_last)
        batch = torch.randn(64, 1, 96, 64).to(memory_format=torch.channels_last)
        with torch.inference_mode():
            net(batch)
            t_net = best_time(lambda: net(batch), repeats=2) / 64 * (SECONDS / 0.96)
        print(f"  front end share of embedding a file with VGGish: {ours / (ours + t_net):.1%} (target <= 5%)")
    except ImportError:
        pass


if __name__ == "__main__":
    main()
