"""Stage-1 training throughput of each objective against the raw VGGish train step, in one run.

Raw step: VGGish forward + backward + Adam on a batch of 64 log-mel examples already in memory, with a
trivial loss. Objective step: the real path -- Lightning's Trainer, the DataLoader over the cached
tensors, the objective's head and loss. Steps are timed after a warm-up step (target ratio >= 0.9).
"""

import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

import lightning as L  # noqa: E402

from instrec.datasets.synth import synth_dataset  # noqa: E402
from instrec.pretraining.inputs import objective_tensors  # noqa: E402
from instrec.pretraining.stage1 import PretrainConfig, Stage1, _loaders  # noqa: E402
from instrec.representations.vggish import VGGish  # noqa: E402

BATCH, STEPS = 64, 3


class StepTimer(L.Callback):
    def __init__(self):
        self.times = []

    def on_train_batch_start(self, *args):
        self.start = time.perf_counter()

    def on_train_batch_end(self, *args):
        self.times.append(time.perf_counter() - self.start)


def raw_rate() -> float:
    model = VGGish()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(BATCH, 96, 64)
    times = []
    for _ in range(STEPS + 1):
        start = time.perf_counter()
        loss = model(x).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return BATCH / min(times[1:])


def objective_rate(objective: str, root: Path) -> float:
    config = PretrainConfig(batch_size=BATCH, max_train_items=BATCH * (STEPS + 1), max_valid_items=8)
    train, valid, sizes = objective_tensors(objective, root, config)
    timer = StepTimer()
    trainer = L.Trainer(max_steps=STEPS + 1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, callbacks=[timer])
    trainer.fit(Stage1(objective, **sizes), *_loaders(train, valid, BATCH)[:1])
    return BATCH / min(timer.times[1:])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        nsynth = synth_dataset("nsynth", Path(tmp) / "nsynth", size=700, seed=0)
        freesound = synth_dataset("freesound", Path(tmp) / "freesound", size=400, seed=0)
        rates = {}
        raw_before = raw_rate()
        for objective in ("textual", "denoise-additive", "denoise-multiplicative", "align"):
            rates[objective] = objective_rate(objective, freesound if objective == "align" else nsynth)
        raw = max(raw_before, raw_rate())
    print(f"raw VGGish train step (batch {BATCH}): {raw:5.1f} examples/s")
    for objective, rate in rates.items():
        print(f"{objective:24s} {rate:5.1f} examples/s  ratio {rate / raw:.2f} (target >= 0.9)")


if __name__ == "__main__":
    main()
