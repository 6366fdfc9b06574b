"""Stage-2 training of the attention classifier on OpenMIC-format features (paper section 4.2).

The whole feature set lives in memory as tensors: an epoch is a permutation and a loop of tensor
indexing, no per-item Python. After every epoch the validation F1-macro is computed and the best
epoch's parameters kept. ``checkpoints/last.pt`` (written atomically every epoch) holds everything
to resume -- optimizer, RNG states, history -- so an interrupted run continues to the same final weights
as an uninterrupted one. ``best.pt`` is the model bundle: model args, parameters, config, epoch,
best metric, the representation it needs and the normalisation statistics.

Multi-GPU: launched with ``torchrun --nproc_per_node N``, each process trains on its share of every
batch under DistributedDataParallel and rank 0 writes the files.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.optim.swa_utils import AveragedModel, update_bn
from tqdm import tqdm

from instrec import params as P
from instrec.augment import Augmenter
from instrec.baseline import random_forest_report
from instrec.bundle import load_checkpoint, save_run_bundle
from instrec.bundle import load_run_bundle as load_bundle  # noqa: F401  (the name the rest of instrec uses)
from instrec.classifier import AttentionClassifier
from instrec.config import TrainConfig, changed_settings
from instrec.convnet import ENCODER_PARTS, ConvAttentionClassifier
from instrec.errors import InstrecError
from instrec.io import atomic_path, atomic_torch_save, atomic_write_json, one_writer
from instrec.metrics import mean_f1_macro, report
from instrec.representations.postprocess import to_sequence


@dataclass
class SplitData:
    """One split in memory: features (N, T, D) float32, binary labels (N, C), label mask (N, C), keys."""

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    keys: list[str]


SPLITS = ("train", "validation", "test")


def check_device(device: str, what: str = "--device") -> str:
    """``device`` if torch can run on it here; else one line saying what to give instead."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise InstrecError(f"{what} {device!r}: not a device; use cpu or cuda (cuda:N for the N-th GPU)") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise InstrecError(f"{what} {device!r}: no CUDA GPU is visible here; use cpu")
    if parsed.type not in ("cpu", "cuda"):
        raise InstrecError(f"{what} {device!r}: instrec trains on cpu or cuda")
    return device


def split_counts(size: int, test_fraction: float = 0.25, val_fraction: float = 0.15) -> dict[str, int]:
    """The clips of each split of a rendered OpenMIC-style dataset of ``size`` clips (as ``assign_splits`` draws)."""
    test = int(round(test_fraction * size))
    validation = int(round(val_fraction * (size - test)))
    return {"train": size - test - validation, "validation": validation, "test": test}


def check_rendered_size(size: int, option: str = "--size") -> None:
    """Before rendering: every split of a ``size``-clip dataset gets at least one clip."""
    counts = split_counts(size)
    empty = [s for s in SPLITS if counts[s] < 1]
    if empty:
        least = next(n for n in range(size, 100) if min(split_counts(n).values()) >= 1)
        raise InstrecError(f"{option} {size}: gives {counts[empty[0]]} {empty[0]} clips; training needs at least one "
                           f"in each of train, validation and test: use {option} {least} or more")


def check_splits(dataset, store=None, need_audio: bool = True) -> None:
    """Before extraction (audio files there) and before training (clips whose features were extracted): each of
    train, validation and test has a usable clip; else one line naming the split and its counts."""
    for split in SPLITS:
        keys = dataset.keys(split) if split in dataset.splits else []
        usable = len(keys)
        if store is not None:
            usable -= len(set(store.failed(split)) & set(keys))
        elif need_audio:
            usable = sum(1 for k in keys if Path(dataset.audio_path(k)).is_file())
        if usable < 1:
            why = "" if not keys else (" (the others failed to extract: see the warnings above)" if store is not None
                                       else " (the others have no audio file)")
            raise InstrecError(f"{dataset.root}: the {split} split has {usable} usable clips of {len(keys)}{why}; "
                               "training needs at least one in each of train, validation and test: add clips or "
                               "render a larger dataset")


def load_split_data(dataset, store, split: str) -> SplitData:
    """Features of ``split`` from a features store with the dataset's labels; clips that failed are dropped."""
    meta = store.meta
    rep = meta["representation"]
    keys = store.keys(split)
    labels = dataset.split(split)
    if keys != labels.keys:
        raise InstrecError(f"{store.root}: the stored {split} keys differ from {dataset.root}'s; delete the store and extract again")
    failed = set(store.failed(split))
    keep = np.array([k not in failed for k in keys])
    x = to_sequence(store.features(split)[keep] if not keep.all() else store.features(split),
                    meta["dtype"] == "uint8", rep["postprocess"], store.norm_stats())
    return SplitData(torch.from_numpy(x), torch.from_numpy(labels.labels[keep].astype(np.float32)),
                     torch.from_numpy(labels.y_mask[keep]), [k for k, ok in zip(keys, keep) if ok])


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device: str) -> bool:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); True if this call created it."""
    if not dist.is_available() or dist.is_initialized() or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    use_nccl = device.startswith("cuda") and torch.cuda.is_available()
    if use_nccl:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if use_nccl else "gloo")
    return True


@torch.no_grad()
def predict_probs(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 256, device: str = "cpu") -> np.ndarray:
    model.eval()
    out = [model(x[i:i + batch_size].to(device))["probs"].cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, model.args["num_classes"]), np.float32)


def new_classifier(config: TrainConfig, input_dim: int, num_classes: int) -> torch.nn.Module:
    """The model ``config.architecture`` names, freshly initialised (from torch's global generator)."""
    if config.architecture == "cnn":
        if input_dim != P.NUM_MEL_BANDS:
            raise InstrecError(f"architecture cnn trains on log-mel features ({P.NUM_MEL_BANDS} bands), not "
                               f"{input_dim}-dimensional ones; extract with --representation logmel")
        model = ConvAttentionClassifier(num_classes, config.width, hidden=config.hidden, groups=config.groups)
        if config.init:
            load_pretrained_encoder(model, config.init)
        return model
    if config.architecture != "attention":
        raise InstrecError(f"architecture {config.architecture!r}: use attention or cnn")
    return AttentionClassifier(input_dim, num_classes, config.hidden, config.variant, config.groups, config.dropout)


ENCODER_FIX = "give the cnn.pt that `instrec pretrain --set encoder=cnn` wrote"


def load_pretrained_encoder(model: ConvAttentionClassifier, path: str | Path) -> None:
    """Set ``model``'s convolutions and projection to those of a pre-trained encoder file (``cnn.pt``), every key
    and shape checked; the attention head stays as initialised."""
    from instrec.bundle import safe_torch_load

    path = Path(path)
    if not path.is_file():
        raise InstrecError(f"{path}: pre-trained encoder not found; {ENCODER_FIX}")
    state = safe_torch_load(path, "a pre-trained CNN encoder", ENCODER_FIX).get("cnn")
    if not isinstance(state, dict):
        raise InstrecError(f"{path}: holds no CNN encoder (no 'cnn' entry); {ENCODER_FIX}")
    own = {k: v for k, v in model.state_dict().items() if k.startswith(ENCODER_PARTS)}
    wrong = sorted(set(own) ^ set(state)) + sorted(k for k in set(own) & set(state)
                                                   if tuple(state[k].shape) != tuple(own[k].shape))
    if wrong:
        raise InstrecError(f"{path}: does not fit this network ({len(wrong)} keys missing, extra or of another shape, "
                           f"first {wrong[0]}); pre-train with the same --set width as the training run")
    for part in ENCODER_PARTS:
        name = part.rstrip(".")
        getattr(model, name).load_state_dict({k.removeprefix(part): v for k, v in state.items() if k.startswith(part)})


def crop_batch(x: torch.Tensor, examples: int, steps_per_example: int, generator: torch.Generator,
               min_examples: int = 0, shift: bool = False) -> torch.Tensor:
    """A random run of ``examples`` whole examples, the same for the batch (all of ``x`` when 0 or too long);
    with ``min_examples`` (0 < it < ``examples``), the run's length is drawn in [min_examples, examples] first.
    With ``shift``, the run starts at any step, not only at an example's first: for log-mel frames, the examples
    a framing of the audio moved by a multiple of 10 ms would give (the network learns not to depend on where
    the 0.96 s frames fall in the music)."""
    if 0 < min_examples < examples:
        examples = int(torch.randint(min_examples, examples + 1, (1,), generator=generator))
    total = x.shape[1] // steps_per_example
    if examples <= 0 or examples >= total:
        return x
    if shift:
        start = int(torch.randint(0, (total - examples) * steps_per_example + 1, (1,), generator=generator))
    else:
        start = int(torch.randint(0, total - examples + 1, (1,), generator=generator)) * steps_per_example
    return x[:, start:start + examples * steps_per_example]


def scheduled_lr(config: TrainConfig, step: int, total_steps: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based) of ``total_steps``: ``config.lr`` throughout
    (constant), or half a cosine from ``config.lr`` down to 0 at the end of the run (cosine)."""
    if config.lr_schedule == "constant":
        return config.lr
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(1, total_steps)))


def train_classifier(train: SplitData, validation: SplitData, config: TrainConfig, run_dir: str | Path,
                     bundle_extra: dict | None = None, after_epoch: Callable[[int], None] | None = None) -> dict:
    """Train, keep the best validation epoch, write ``run_dir/best.pt``; resume from ``last.pt`` if there.

    ``after_epoch(epochs_done)`` is called after each epoch's checkpoint (tests interrupt a run from it)."""
    run_dir = Path(run_dir)
    if len(validation.keys) == 0 or len(train.keys) == 0:
        raise InstrecError(f"{run_dir}: the training or validation split is empty; use a larger dataset")
    if not bool(validation.mask.any()) or not bool(train.mask.any()):
        raise InstrecError(f"{run_dir}: the training or validation split has no labelled entry, so no epoch could "
                           "be judged; no model was written (check the dataset's labels)")
    augment = Augmenter(config.mix, config.eq_db, config.shift_bands, (bundle_extra or {}).get("norm_stats"),
                        train.x.shape[2], config.mask_bands, config.mask_frames, config.mixstyle)
    rank, world = _world()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = torch.device(config.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = new_classifier(config, train.x.shape[2], train.y.shape[1]).to(device)
    # fused: one kernel for all parameters (CPU and CUDA); ~3x faster than foreach for this small model
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
    loop = _Loop(model, optimizer, torch.Generator().manual_seed(config.seed), train, validation, config, run_dir,
                 device, rank, world, augment, AveragedModel(model) if config.swa_epochs else None)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed + 1)  # dropout draws from the global generator: seeded here, restored after
        loop.resume()
        started, first = time.perf_counter(), loop.state["epoch"]
        bar = tqdm(range(first, config.epochs), desc="stage-2 training", unit="epoch", disable=rank != 0,
                   initial=first, total=config.epochs)
        for epoch in bar:
            loop.run_epoch(epoch)
            bar.set_postfix(val_f1=f"{loop.state['history'][-1]['val_f1_macro']:.3f}",
                            best=f"{loop.state['best_f1']:.3f}")
            if rank == 0 and ((epoch + 1) % config.checkpoint_every == 0 or epoch + 1 == config.epochs):
                loop.checkpoint()
            if after_epoch is not None:
                after_epoch(epoch + 1)
        seconds = time.perf_counter() - started
        if rank == 0:
            loop.write(bundle_extra)
    return {"best_epoch": loop.state["best_epoch"], "best_val_f1_macro": loop.state["best_f1"], "seconds": seconds,
            "epochs_run": config.epochs - first,
            **({"swa_val_f1_macro": loop.state["swa_f1"]} if "swa_f1" in loop.state else {})}


def finish_average(swa: AveragedModel, train_x: torch.Tensor, validation: SplitData, config: TrainConfig,
                   device: torch.device | str = "cpu") -> float:
    """Averaged weights made usable (stochastic weight averaging, Izmailov et al. 2018): batch-norm statistics
    from one pass over the training clips, whole, in batches of ``config.batch_size``; returns the averaged
    model's validation F1-macro."""
    update_bn((train_x[i:i + config.batch_size] for i in range(0, len(train_x), config.batch_size)), swa,
              torch.device(device))
    probs = predict_probs(swa.module, validation.x, device=device)
    return mean_f1_macro(probs, validation.y.numpy(), validation.mask.numpy(), config.threshold,
                         config.strict_threshold)


def averaged_bundle(bundle: dict, swa: AveragedModel, config: TrainConfig, val_f1: float) -> dict:
    """A run bundle with the averaged weights of ``config.swa_epochs`` epochs in place of the best epoch's."""
    return {**bundle, "state_dict": swa.module.state_dict(), "config": dataclasses.asdict(config),
            "epoch": config.epochs - 1, "averaged_epochs": config.swa_epochs, "best_val_f1_macro": val_f1}


@dataclass
class _Loop:
    """One training run's moving parts; ``state`` is what a checkpoint keeps besides the tensors' owners."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    shuffle: torch.Generator  # batch order, crops and augmentation
    train: SplitData
    validation: SplitData
    config: TrainConfig
    run_dir: Path
    device: torch.device
    rank: int
    world: int
    augment: Augmenter
    swa: AveragedModel | None  # the running mean of the last config.swa_epochs epochs' weights
    state: dict = dataclasses.field(default_factory=lambda: {
        "epoch": 0, "best_f1": -1.0, "best_epoch": -1, "best_state": None, "history": []})

    @property
    def last(self) -> Path:
        return self.run_dir / "checkpoints" / "last.pt"

    def resume(self) -> None:
        """Continue from ``last.pt`` if there; then move the training split to the device."""
        if self.last.exists():
            saved = load_checkpoint(self.last, map_location=self.device)
            if changed_settings(saved["config"], self.config):
                raise InstrecError(f"{self.last}: was written with another config; use a new run folder or delete it")
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
            self.shuffle.set_state(saved["shuffle_rng"])
            torch.set_rng_state(saved["torch_rng"])
            self.state = saved["state"]
            if self.swa is not None:
                self.swa.load_state_dict(saved["swa"])
        self.net = self.model
        if self.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device] if self.device.type == "cuda" else None)
        self.x, self.y, self.mask = (t.to(self.device) for t in (self.train.x, self.train.y, self.train.mask))
        # one example is 96 log-mel frames or one embedding
        logmel = self.x.shape[2] == P.NUM_MEL_BANDS and self.x.shape[1] % P.EXAMPLE_FRAMES == 0
        self.per_example = P.EXAMPLE_FRAMES if logmel else 1

    def run_epoch(self, epoch: int) -> None:
        """One pass over the training split, then the validation F1-macro (the best epoch's weights kept)."""
        config = self.config
        self.model.train()
        order = torch.randperm(len(self.x), generator=self.shuffle).to(self.device)
        total, steps = 0.0, 0
        per_epoch = -(-len(order) // config.batch_size)
        for start in range(0, len(order), config.batch_size):
            for group in self.optimizer.param_groups:
                group["lr"] = scheduled_lr(config, epoch * per_epoch + start // config.batch_size,
                                           config.epochs * per_epoch)
            batch = order[start:start + config.batch_size]
            if len(batch) < self.world:  # every rank must take part in every step (DDP all-reduces gradients)
                continue
            idx = batch.tensor_split(self.world)[self.rank]
            inputs = crop_batch(self.x[idx], config.crop_examples, self.per_example, self.shuffle,
                                config.crop_min_examples, config.crop_shift)
            inputs, targets, known = self.augment(inputs, self.y[idx], self.mask[idx], self.shuffle)
            loss = self.net(inputs, targets, known)["loss"]
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += loss.item() if steps % 16 == 0 else 0.0
            steps += 1
        if self.swa is not None and epoch >= config.epochs - config.swa_epochs:
            self.swa.update_parameters(self.model)
        probs = predict_probs(self.model, self.validation.x, device=self.device)
        val_f1 = mean_f1_macro(probs, self.validation.y.numpy(), self.validation.mask.numpy(), config.threshold,
                               config.strict_threshold)
        if val_f1 > self.state["best_f1"]:
            self.state.update(best_f1=val_f1, best_epoch=epoch, best_state=copy.deepcopy(self.model.state_dict()))
        self.state["history"].append({"epoch": epoch, "train_loss_sampled": total / max(1, (steps + 15) // 16),
                                      "val_f1_macro": val_f1})
        self.state["epoch"] = epoch + 1

    def checkpoint(self) -> None:
        atomic_torch_save(self.last, {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                                      "shuffle_rng": self.shuffle.get_state(), "torch_rng": torch.get_rng_state(),
                                      "state": self.state, "config": dataclasses.asdict(self.config),
                                      **({"swa": self.swa.state_dict()} if self.swa is not None else {})})

    def write(self, bundle_extra: dict | None) -> None:
        """``best.pt`` (the best epoch's bundle; with ``swa_epochs``, the averaged weights', and the best epoch's in
        ``best-epoch.pt``), ``log.csv`` and ``config.json``."""
        if self.state["best_state"] is None:
            raise InstrecError(f"{self.run_dir}: no epoch gave a validation F1-macro (no labelled validation entry, "
                               "or no epoch run); no model was written")
        common = {"model_args": self.model.args, "config": dataclasses.asdict(self.config), **(bundle_extra or {})}
        best = {**common, "state_dict": self.state["best_state"], "epoch": self.state["best_epoch"],
                "best_val_f1_macro": self.state["best_f1"]}
        if self.swa is not None:  # the best epoch's model is kept beside it, for comparison
            save_run_bundle(self.run_dir / "best-epoch.pt", best)
            self.state["swa_f1"] = finish_average(self.swa, self.x, self.validation, self.config, self.device)
            best = averaged_bundle(best, self.swa, self.config, self.state["swa_f1"])
        save_run_bundle(self.run_dir / "best.pt", best)
        with atomic_path(self.run_dir / "log.csv") as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["epoch", "train_loss_sampled", "val_f1_macro"])
            writer.writeheader()
            writer.writerows(self.state["history"])
        atomic_write_json(self.run_dir / "config.json", dataclasses.asdict(self.config))


def evaluate_split(model: torch.nn.Module, data: SplitData, classes, threshold: float = 0.5,
                   strict: bool = False) -> dict:
    probs = predict_probs(model, data.x)
    return report(probs, data.y.numpy(), data.mask.numpy(), classes, threshold, strict)


def write_report(result: dict, run_dir: Path, name: str = "test") -> None:
    """``<name>_metrics.json`` and ``<name>_metrics.csv`` (one row per class, then the mean)."""
    atomic_write_json(run_dir / f"{name}_metrics.json", result)
    with atomic_path(run_dir / f"{name}_metrics.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["class", "f1_macro", "ap", "labelled", "positives"])
        for cls, r in result["per_class"].items():
            writer.writerow([cls, r["f1_macro"], r["ap"], r["labelled"], r["positives"]])
        writer.writerow(["mean", result["f1_macro"], result["map"], "", ""])


def format_table(result: dict) -> str:
    """The per-class table printed on the terminal."""
    lines = [f"{'class':20s} {'F1-macro':>9s} {'AP':>7s} {'labelled':>9s} {'pos':>5s}"]
    fmt = lambda v: "     -" if v is None else f"{v:6.3f}"  # noqa: E731
    for cls, r in result["per_class"].items():
        lines.append(f"{cls:20s} {fmt(r['f1_macro']):>9s} {fmt(r['ap']):>7s} {r['labelled']:9d} {r['positives']:5d}")
    lines.append(f"{'mean':20s} {fmt(result['f1_macro']):>9s} {fmt(result['map']):>7s}")
    return "\n".join(lines)


def run_training(dataset_root: str | Path, representation, config: TrainConfig, run_dir: str | Path,
                 baseline: bool = False, peak_normalize: bool = False, store=None) -> dict:
    """Extract (cached) -- or use the given features ``store`` -- train, evaluate on the test split and
    write the run folder."""
    from instrec.datasets.openmic import OpenMIC
    from instrec.extract import FeatureStore, extract, store_dir

    run_dir = Path(run_dir)
    created = init_distributed(config.device)
    try:
        rank, _ = _world()
        dataset = OpenMIC(dataset_root)
        check_device(config.device, "device")
        if store is None:
            check_splits(dataset, need_audio=getattr(representation, "name", "") != "openmic-released")
            if rank == 0:  # one process extracts; the others wait, then read the same store
                extract(dataset, representation, peak_normalize=peak_normalize)
            if dist.is_initialized():
                dist.barrier()
            store = FeatureStore(store_dir(dataset, representation))
        with one_writer(run_dir, "run folder"):  # (rank 0 only: the other ranks write nothing)
            result = _train_and_report(dataset, store, config, run_dir, baseline, peak_normalize, dataset_root, rank)
        if dist.is_initialized():  # no rank tears the group down while another still reports (seen: SIGABRT at exit)
            dist.barrier()
        return result
    finally:
        if created:
            dist.destroy_process_group()


def _train_and_report(dataset, store, config, run_dir, baseline, peak_normalize, dataset_root, rank) -> dict:
    check_splits(dataset, store)
    data = {s: load_split_data(dataset, store, s) for s in dataset.splits}
    extra = {"representation": store.meta["representation"], "classes": list(dataset.classes),
             # a class never labelled in training (e.g. mandolin in GM renderings) has an untrained output
             "trained_classes": data["train"].mask.any(dim=0).tolist(),
             "norm_stats": store.norm_stats(), "dataset": str(Path(dataset_root).resolve()),
             "store": str(store.root.resolve()), "peak_normalize": peak_normalize}
    result = train_classifier(data["train"], data["validation"], config, run_dir, extra)
    if rank != 0:
        return result  # rank 0 evaluates and writes the reports
    model, _ = load_bundle(run_dir)
    test = evaluate_split(model, data["test"], dataset.classes, config.threshold, config.strict_threshold)
    write_report(test, run_dir)
    if baseline:
        result["baseline_rf"] = baseline_report(data, dataset.classes, config, run_dir)
    return {**result, "test": test}


def baseline_report(data: dict, classes, config: TrainConfig, run_dir: Path) -> dict:
    """The OpenMIC random forest on the same features; written as ``baseline_rf_test_metrics.*``."""
    rf = random_forest_report(data["train"].x.numpy(), data["train"].y.numpy(), data["train"].mask.numpy(),
                              data["test"].x.numpy(), data["test"].y.numpy(), data["test"].mask.numpy(),
                              classes, config.seed, threshold=config.threshold, strict=config.strict_threshold)
    write_report(rf, run_dir, "baseline_rf_test")
    return rf


def evaluate_run(run_dir: str | Path, dataset_root: str | Path | None = None, strict: bool | None = None) -> dict:
    """Re-evaluate a run's best model on the test split of its dataset; rewrites the test reports."""
    from instrec.datasets.openmic import OpenMIC
    from instrec.extract import FeatureStore

    from instrec.bundle import is_exported

    run_dir = Path(run_dir)
    if run_dir.is_dir() and is_exported(run_dir):
        raise InstrecError(f"{run_dir}: an exported model keeps no features or test split of its own; score it with "
                           f"`instrec evaluate-audio --model {run_dir} --audio DIR` (or scripts/score_model.py)")
    if run_dir.is_dir() and (run_dir / "results.json").is_file():
        raise InstrecError(f"{run_dir}: a study folder; its cells are already evaluated (results.md); give one cell's "
                           "run folder to evaluate it again")
    model, bundle = load_bundle(run_dir)
    dataset = OpenMIC(dataset_root or bundle["dataset"])
    store = FeatureStore(bundle["store"])
    if store.meta["representation"]["key"] != bundle["representation"]["key"]:
        raise InstrecError(f"{store.root}: holds {store.meta['representation']['key']} features but the model "
                           f"needs {bundle['representation']['key']}")
    config = bundle["config"]
    strict = config["strict_threshold"] if strict is None else strict
    result = evaluate_split(model, load_split_data(dataset, store, "test"), dataset.classes, config["threshold"], strict)
    write_report(result, run_dir)
    return result
