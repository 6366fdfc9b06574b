"""Training speed of the shipped model's networks: one member of the recipe (the compact CNN, batch 32 clips, a run of
3 of each clip's 10 log-mel examples per step) through ``train_classifier`` on random log-mel features, on the CPU
and, where there is one, on a GPU in the same run. Prints seconds per epoch of ``--clips`` training clips, the
GPU/CPU ratio, and the projected time of the recipe's training (``default_model.Recipe``: its training clips, epochs
and members). The baseline, run in the same process on the CPU: the same network with channels-first convolution
weights, the layout it trained in before 6f9cbec (its one-channel input left every layer channels-first).

    python benchmarks/bench_train_cnn.py [--clips 1000] [--epochs 2] [--devices cpu,cuda]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from _layout import channels_first_weights  # noqa: E402

from instrec import params as P  # noqa: E402
from instrec.config import TrainConfig  # noqa: E402
from instrec.training import SplitData, train_classifier  # noqa: E402

CLASSES = 20


def recipe_training() -> tuple[int, int, int]:
    """The shipped recipe's training clips (its rendering's train split), epochs and members."""
    import inspect

    from instrec.datasets.synth.openmic import assign_splits, synth_openmic
    from instrec.default_model import Recipe

    recipe, defaults = Recipe(), inspect.signature(synth_openmic).parameters
    splits = assign_splits(recipe.size, recipe.seed, defaults["test_fraction"].default, defaults["val_fraction"].default)
    return splits.count("train"), recipe.epochs, len(recipe.members)


def data(clips: int, seed: int) -> SplitData:
    g = torch.Generator().manual_seed(seed)
    return SplitData(torch.rand(clips, 10 * P.EXAMPLE_FRAMES, P.NUM_MEL_BANDS, generator=g),
                     (torch.rand(clips, CLASSES, generator=g) > 0.8).float(), torch.ones(clips, CLASSES, dtype=torch.bool),
                     [str(i) for i in range(clips)])


def seconds_per_epoch(device: str, train: SplitData, validation: SplitData, epochs: int) -> float:
    """Mean wall time of the epochs after the first (which pays for warm-up: allocation, kernel choice), each with
    its validation and checkpoint, from one run of 1 + ``epochs`` epochs."""
    config = TrainConfig(architecture="cnn", crop_examples=3, batch_size=32, lr=1e-3, epochs=1 + epochs, device=device)
    stamps = []
    with tempfile.TemporaryDirectory() as run:
        train_classifier(train, validation, config, run, after_epoch=lambda done: stamps.append(time.perf_counter()),
                         bundle_extra={"classes": [f"c{i}" for i in range(CLASSES)],
                                       "trained_classes": [True] * CLASSES})
    return (stamps[-1] - stamps[0]) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--devices", default="cpu,cuda")
    args = parser.parse_args()
    train, validation = data(args.clips, 0), data(max(1, args.clips // 6), 1)
    measured = {}
    recipe_clips, recipe_epochs, recipe_members = recipe_training()
    for device in args.devices.split(","):
        if device.startswith("cuda") and not torch.cuda.is_available():
            print(f"{device}: no GPU here, skipped")
            continue
        measured[device] = seconds_per_epoch(device, train, validation, args.epochs)
        recipe_hours = measured[device] * recipe_clips / args.clips * recipe_epochs * recipe_members / 3600
        print(f"{device}: {measured[device]:.2f} s per epoch of {args.clips} clips; the recipe's training "
              f"({recipe_members} x {recipe_epochs} epochs of {recipe_clips} clips) about {recipe_hours:.2f} h")
    if "cpu" in measured:
        with channels_first_weights():
            baseline = seconds_per_epoch("cpu", train, validation, args.epochs)
        print(f"cpu, channels-first weights (baseline): {baseline:.2f} s per epoch; channels-last / baseline time "
              f"per epoch: {measured['cpu'] / baseline:.3f} ({baseline / measured['cpu']:.2f}x faster)")
    if "cpu" in measured and len(measured) > 1:
        for device, seconds in measured.items():
            if device != "cpu":
                print(f"{device} / cpu time per epoch: {seconds / measured['cpu']:.3f} "
                      f"({measured['cpu'] / seconds:.1f}x faster)")


if __name__ == "__main__":
    main()
