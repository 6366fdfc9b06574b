"""Weight averaging measured after the fact: the run an ``swa_epochs=N`` setting would have written, built from
copies of a finished run's per-epoch checkpoints.

    python scripts/average_epochs.py RUN_DIR SNAPSHOT_DIR --last N --out OUT_DIR

SNAPSHOT_DIR holds copies of ``RUN_DIR/checkpoints/last.pt`` taken after each epoch (any file names; each
checkpoint's own epoch count is read). The weights of the last N epochs are averaged, the batch-norm statistics
and the validation F1-macro computed as training does (``training.finish_average``), and OUT_DIR/best.pt written
with RUN_DIR's bundle otherwise unchanged: `instrec predict --model OUT_DIR`, `scripts/score_model.py OUT_DIR
--validation-threshold` and `instrec train-default`'s export read it as any run. Training's trajectory does not
depend on the setting, so this is the same computation on the same weights as the run trained with it.
"""

import argparse
import dataclasses
import shutil
import sys
from pathlib import Path

from torch.optim.swa_utils import AveragedModel

from instrec.bundle import load_checkpoint, save_run_bundle
from instrec.config import TrainConfig
from instrec.datasets.openmic import OpenMIC
from instrec.extract import FeatureStore
from instrec.io import atomic_write_json
from instrec.training import averaged_bundle, finish_average, load_bundle, load_split_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("snapshots", type=Path)
    parser.add_argument("--last", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    model, bundle = load_bundle(args.run)
    config = dataclasses.replace(TrainConfig(**bundle["config"]), swa_epochs=args.last)
    by_epoch = {}
    for path in sorted(args.snapshots.glob("*.pt")):
        saved = load_checkpoint(path)
        by_epoch[saved["state"]["epoch"]] = saved["model"]
    wanted = range(config.epochs - args.last + 1, config.epochs + 1)  # epochs done after each averaged epoch
    missing = [e for e in wanted if e not in by_epoch]
    if missing:
        sys.exit(f"{args.snapshots}: no checkpoint after epoch(s) {missing}")
    swa = AveragedModel(model)
    for epoch in wanted:
        model.load_state_dict(by_epoch[epoch])
        swa.update_parameters(model)
    dataset, store = OpenMIC(bundle["dataset"]), FeatureStore(bundle["store"])
    train, validation = (load_split_data(dataset, store, split) for split in ("train", "validation"))
    f1 = finish_average(swa, train.x, validation, config)
    args.out.mkdir(parents=True, exist_ok=True)
    save_run_bundle(args.out / "best.pt", averaged_bundle(bundle, swa, config, f1))
    atomic_write_json(args.out / "config.json", dataclasses.asdict(config))
    if (args.run / "log.csv").exists():
        shutil.copy(args.run / "log.csv", args.out / "log.csv")
    print(f"{args.out}: the mean of epochs {wanted[0]}-{wanted[-1]}; validation F1-macro {f1:.4f} "
          f"(the best single epoch: {bundle['best_val_f1_macro']:.4f}, epoch {bundle['epoch'] + 1})")


if __name__ == "__main__":
    main()
