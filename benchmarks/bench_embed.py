"""VGGish embedding throughput: raw forward vs. `extract` over a folder of clips, measured in one run.

This machine's speed drifts by +-20% within seconds, so the ratio is measured batch by batch,
interleaved: for each batch of 16 rendered OpenMIC clips, the raw forward of its 160 examples
(decoded beforehand) and then the whole extract step for the same clips (decode, front end,
forward, write into the memory-mapped store). Also: the whole `extract_split` rate, the
real-time factor, and the alternatives measured for the forward (NCHW, bf16 autocast).
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _timing import best_time  # noqa: E402

from instrec.datasets.openmic import OpenMIC  # noqa: E402
from instrec.datasets.synth import synth_dataset  # noqa: E402
from instrec.extract import _Clips, extract_split  # noqa: E402
from instrec.frontend import LogMelExamples  # noqa: E402
from instrec.representations.registry import build_representation  # noqa: E402
from instrec.representations.vggish import VGGish  # noqa: E402

CLIPS = 96
BATCH = 16


def main() -> None:
    rep = build_representation("vggish-random")
    warm = torch.randn(160, 96, 64)
    rep.embed(warm)
    with tempfile.TemporaryDirectory() as tmp:
        root = synth_dataset("openmic", Path(tmp) / "om", size=CLIPS, seed=0)
        dataset = OpenMIC(root)
        keys = dataset.keys("train") + dataset.keys("validation") + dataset.keys("test")
        decode = _Clips(dataset, 10, False, LogMelExamples())
        store = np.lib.format.open_memmap(Path(tmp) / "rows.npy", mode="w+", dtype=np.float32, shape=(len(keys), 10, 128))
        raw_s = pipe_s = 0.0
        for start in range(0, len(keys) - BATCH + 1, BATCH):
            batch_keys = keys[start:start + BATCH]
            examples = decode(batch_keys)[0].reshape(-1, 96, 64)
            t = time.perf_counter()
            rep.embed(examples)
            raw_s += time.perf_counter() - t
            t = time.perf_counter()
            ex, _ = decode(batch_keys)
            store[start:start + BATCH] = rep.embed(ex.reshape(-1, 96, 64)).reshape(BATCH, 10, 128)
            store.flush()
            pipe_s += time.perf_counter() - t
        start = time.perf_counter()
        extract_split(dataset, "train", rep, Path(tmp) / "store")
        whole = len(dataset.keys("train")) * 10 / (time.perf_counter() - start)
    plain = VGGish().eval()
    with torch.inference_mode():
        nchw = 160 / best_time(lambda: plain(warm), repeats=2)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = 160 / best_time(lambda: rep.network(warm.unsqueeze(1).contiguous(memory_format=torch.channels_last)), repeats=1)
    cl = 160 / best_time(lambda: rep.embed(warm), repeats=2)
    print(f"raw VGGish forward, fp32 channels_last (default): {cl:6.1f} examples/s")
    print(f"raw VGGish forward, fp32 NCHW:                     {nchw:6.1f} examples/s ({nchw / cl:.2f} of default)")
    print(f"raw VGGish forward, bf16 autocast:                 {bf16:6.1f} examples/s ({bf16 / cl:.2f} of default)")
    print(f"interleaved per batch: extract step / raw forward = {raw_s / pipe_s:.2f} (target >= 0.9)")
    print(f"extract_split on the train split: {whole:6.1f} examples/s, {whole * 0.96:.0f}x real time")


if __name__ == "__main__":
    main()
