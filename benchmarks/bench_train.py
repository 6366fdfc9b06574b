"""Stage-2 training speed on OpenMIC-size random features (14,915 x 10 x 128, 20 classes, 40% labelled).

Prints seconds per epoch, each the best of a few rounds run in turn in this process (the machine drifts):
- ``train_classifier``: the project's path (fused paper-variant loss, fused Adam, validation F1 and a
  checkpoint every epoch);
- the same in-memory loop through autograd over the modules and ``masked_bce`` with foreach Adam (the
  previous implementation), and a plain DataLoader-per-item loop (the issue's baseline);
- the GEMMs of an epoch alone (the matrix products of forward and backward, nothing else): a floor
  for any implementation on this machine;
and the projected time of the paper's 350 epochs (target: under 3 minutes on 2 cores).
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

N, T, D, C, BATCH = 14915, 10, 128, 20, 128
EPOCHS, ROUNDS = 3, 3


def data(n: int, seed: int) -> SplitData:
    g = torch.Generator().manual_seed(seed)
    return SplitData(torch.rand(n, T, D, generator=g), (torch.rand(n, C, generator=g) > 0.5).float(),
                     torch.rand(n, C, generator=g) < 0.4, [str(i) for i in range(n)])


def project(train: SplitData, val: SplitData) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        return train_classifier(train, val, TrainConfig(epochs=EPOCHS), tmp)["seconds"] / EPOCHS


def loop_epoch(train: SplitData, fused: bool) -> float:
    """The in-memory step loop of ``train_classifier`` without validation: the fused paper-variant loss with
    fused Adam, or autograd through the modules and ``masked_bce`` with foreach Adam (the previous code)."""
    model = AttentionClassifier(D, C)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4, **({"fused": True} if fused else {"foreach": True}))
    order = torch.randperm(len(train.x))
    start = time.perf_counter()
    for i in range(0, len(order), BATCH):
        idx = order[i:i + BATCH]
        if fused:
            loss = model(train.x[idx], train.y[idx], train.mask[idx])["loss"]
        else:
            loss = masked_bce(model(train.x[idx])["probs"], train.y[idx], train.mask[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def dataloader_epoch(train: SplitData) -> float:
    model = AttentionClassifier(D, C)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
    loader = DataLoader(TensorDataset(train.x, train.y, train.mask), batch_size=BATCH, shuffle=True)
    start = time.perf_counter()
    for x, y, m in loader:
        loss = masked_bce(model(x)["probs"], y, m)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def gemm_epoch(train: SplitData) -> float:
    """Forward: 3 hidden layers + the two heads; backward: weight and input gradients (none for the input)."""
    w, heads = [torch.randn(D, D) * 0.1 for _ in range(3)], torch.randn(2 * C, D) * 0.1
    order = torch.randperm(len(train.x))
    start = time.perf_counter()
    for i in range(0, len(order), BATCH):
        x = train.x[order[i:i + BATCH]].view(-1, D)
        h1 = x.mm(w[0].t())
        h2 = h1.mm(w[1].t())
        h3 = h2.mm(w[2].t())
        dz = h3.mm(heads.t())
        dz.t().mm(h3)
        d3 = dz.mm(heads)
        d3.t().mm(h2)
        d2 = d3.mm(w[2])
        d2.t().mm(h1)
        d1 = d2.mm(w[1])
        d1.t().mm(x)
    return time.perf_counter() - start


def main() -> None:
    import torch._dynamo  # noqa: F401  (the first optimizer step imports it: ~3 s once per process, not per epoch)

    train, val = data(12678, 0), data(2237, 1)
    best = dict.fromkeys(["project", "fused", "autograd", "dataloader", "gemm"], float("inf"))
    for _ in range(ROUNDS):
        best["project"] = min(best["project"], project(train, val))
        for _ in range(2):
            best["fused"] = min(best["fused"], loop_epoch(train, fused=True))
            best["autograd"] = min(best["autograd"], loop_epoch(train, fused=False))
            best["gemm"] = min(best["gemm"], gemm_epoch(train))
        best["dataloader"] = min(best["dataloader"], dataloader_epoch(train))
    ours = best["project"]
    print(f"train_classifier: {ours:.3f} s/epoch (incl. validation F1 and checkpoint every epoch)")
    print(f"step loop alone: fused {best['fused']:.3f} s/epoch, autograd through the modules {best['autograd']:.3f} "
          f"s/epoch: fused speed-up {best['autograd'] / best['fused']:.2f}x")
    print(f"DataLoader per-item loop: {best['dataloader']:.3f} s/epoch; train_classifier speed-up "
          f"{best['dataloader'] / ours:.2f}x")
    print(f"GEMMs alone: {best['gemm']:.3f} s/epoch = {best['gemm'] / ours:.0%} of train_classifier; "
          f"350 epochs of GEMMs alone: {350 * best['gemm'] / 60:.1f} min")
    print(f"projected 350 epochs: {350 * ours / 60:.1f} min (target < 3 min)")


if __name__ == "__main__":
    main()
