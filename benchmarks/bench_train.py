"""Stage-2 training speed on OpenMIC-size random features (14,915 x 10 x 128, 20 classes, 40% labelled).

The machine drifts by tens of percent within seconds, so the step variants run in lockstep: for every
batch of an epoch, one step of each, timed apart and summed over the epoch:
- ``fused``: the project's step (the paper variant's fused loss function, fused Adam);
- ``autograd``: autograd through the modules and ``masked_bce`` with foreach Adam (the previous code);
- ``gemm``: the matrix products of that step's forward and backward alone;
- ``fixed``: the fused step on a batch of 2 clips x 1 step (dispatch, autograd and optimizer overhead);
``gemm + fixed`` is a floor for any eager-PyTorch step on this machine. Then ``train_classifier`` end to
end (validation F1 and a checkpoint every epoch), the ratio to a plain DataLoader-per-item loop, and the
projected time of the paper's 350 epochs (target: under 3 minutes on 2 cores).
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
EPOCHS, ROUNDS = 3, 2


def data(n: int, seed: int) -> SplitData:
    g = torch.Generator().manual_seed(seed)
    return SplitData(torch.rand(n, T, D, generator=g), (torch.rand(n, C, generator=g) > 0.5).float(),
                     torch.rand(n, C, generator=g) < 0.4, [str(i) for i in range(n)])


def stepper(fused: bool):
    model = AttentionClassifier(D, C)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4, **({"fused": True} if fused else {"foreach": True}))

    def step(x, y, mask):
        if fused:
            loss = model(x, y, mask)["loss"]
        else:
            loss = masked_bce(model(x)["probs"], y, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def gemm_step(x, w, heads):
    """Forward: 3 hidden layers + the two heads; backward: weight and input gradients (none for the input)."""
    x = x.view(-1, D)
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


def lockstep_epoch(train: SplitData, tiny: SplitData, totals: dict) -> None:
    fused, autograd, fixed = stepper(True), stepper(False), stepper(True)
    w, heads = [torch.randn(D, D) * 0.1 for _ in range(3)], torch.randn(2 * C, D) * 0.1
    order = torch.randperm(len(train.x))
    clock = time.perf_counter
    for n, i in enumerate(range(0, len(order), BATCH)):
        idx = order[i:i + BATCH]
        two = torch.tensor([2 * n, 2 * n + 1]) % len(tiny.x)
        start = clock()
        fused(train.x[idx], train.y[idx], train.mask[idx])
        t1 = clock()
        autograd(train.x[idx], train.y[idx], train.mask[idx])
        t2 = clock()
        gemm_step(train.x[idx], w, heads)
        t3 = clock()
        fixed(tiny.x[two], tiny.y[two], tiny.mask[two])
        t4 = clock()
        for key, seconds in (("fused", t1 - start), ("autograd", t2 - t1), ("gemm", t3 - t2), ("fixed", t4 - t3)):
            totals[key] += seconds


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


def main() -> None:
    import torch._dynamo  # noqa: F401  (the first optimizer step imports it: ~3 s once per process, not per epoch)

    train, val = data(12678, 0), data(2237, 1)
    tiny = data(256, 2)
    tiny.x = tiny.x[:, :1].contiguous()
    totals = dict.fromkeys(["fused", "autograd", "gemm", "fixed"], 0.0)
    for _ in range(ROUNDS):
        lockstep_epoch(train, tiny, totals)
    per_epoch = {k: v / ROUNDS for k, v in totals.items()}
    with tempfile.TemporaryDirectory() as tmp:
        ours = train_classifier(train, val, TrainConfig(epochs=EPOCHS), tmp)["seconds"] / EPOCHS
    loader = dataloader_epoch(train)
    print(f"lockstep, s/epoch: fused step {per_epoch['fused']:.3f}, autograd step {per_epoch['autograd']:.3f} "
          f"(fused speed-up {per_epoch['autograd'] / per_epoch['fused']:.2f}x), GEMMs alone {per_epoch['gemm']:.3f}, "
          f"fixed cost {per_epoch['fixed']:.3f}")
    floor = per_epoch["gemm"] + per_epoch["fixed"]
    print(f"floor (GEMMs + fixed cost) = {floor / per_epoch['fused']:.0%} of the fused step; "
          f"350 epochs of it alone: {350 * floor / 60:.1f} min")
    print(f"train_classifier end to end: {ours:.3f} s/epoch (validation F1 and checkpoint every epoch); "
          f"DataLoader per-item loop {loader:.3f} s/epoch, speed-up {loader / ours:.2f}x")
    print(f"projected 350 epochs: {350 * ours / 60:.1f} min (target < 3 min)")


if __name__ == "__main__":
    main()
