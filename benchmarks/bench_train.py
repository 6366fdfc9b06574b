"""Stage-2 training speed on OpenMIC-size random features (14,915 x 10 x 128, 20 classes, 40% labelled).

Prints seconds per epoch of `train_classifier` (in-memory tensors, the project's path) and the ratio
to a plain DataLoader-per-item loop over the same data, measured in the same run, and the projected
time of the paper's 350 epochs (target: under 3 minutes on 2 cores).
"""

import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).parent))

from instrec.classifier import AttentionClassifier, masked_bce  # noqa: E402
from instrec.config import TrainConfig  # noqa: E402
from instrec.training import SplitData, train_classifier  # noqa: E402

N, T, D, C = 14915, 10, 128, 20
EPOCHS = 10


def data(n: int, seed: int) -> SplitData:
    g = torch.Generator().manual_seed(seed)
    return SplitData(torch.rand(n, T, D, generator=g), (torch.rand(n, C, generator=g) > 0.5).float(),
                     torch.rand(n, C, generator=g) < 0.4, [str(i) for i in range(n)])


def dataloader_epoch(train: SplitData) -> float:
    model = AttentionClassifier(D, C)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
    loader = DataLoader(TensorDataset(train.x, train.y, train.mask), batch_size=128, shuffle=True)
    start = time.perf_counter()
    for x, y, m in loader:
        loss = masked_bce(model(x)["probs"], y, m)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    import torch._dynamo  # noqa: F401  (the first optimizer step imports it: ~3 s once per process, not per epoch)

    train, val = data(12678, 0), data(2237, 1)
    with tempfile.TemporaryDirectory() as tmp:
        result = train_classifier(train, val, TrainConfig(epochs=EPOCHS), tmp)
    ours = result["seconds"] / EPOCHS
    baseline = min(dataloader_epoch(train) for _ in range(2))
    print(f"train_classifier: {ours:.3f} s/epoch (incl. validation F1 and checkpoint every epoch)")
    print(f"DataLoader per-item loop: {baseline:.3f} s/epoch; speed-up {baseline / ours:.1f}x")
    print(f"projected 350 epochs: {350 * ours / 60:.1f} min (target < 3 min)")


if __name__ == "__main__":
    main()
