"""Candidate 37 (not taken): each fold's stage model averaged with E4 (``average_with_base``), for ``probe_folds.py``.

For fold K, ``SRC/K/model`` (from ``real_folds.py``) and the base it started from are averaged into ``OUT/K/model``,
and the fold's stage clips (``SRC/K/clips-*``) are linked beside it, so that ``probe_folds.py --out OUT`` reads and
fits everything with the averaged networks as it does for the stage's own.

    python scripts/average_stage.py --src runs/folds32 --out runs/folds37 --fold A --fold B --fold C [--share 0.5]
"""

from __future__ import annotations

import argparse
from pathlib import Path


# the head's parameters with a row per class (convnet.CNN's attention classifier)
CLASS_ROWS = ("head.attention.", "head.classes.")


def average_with_base(stage_model: str | Path, base: str | Path, out: str | Path, share: float = 0.5) -> Path:
    """The stage model's networks with every weight moved back toward the network each started from (``base``, an
    exported model the stage was trained from; its probe, if any, dropped): ``share`` of the stage's weight and
    ``1 - share`` of the base's, batch-norm statistics alike (weight-space ensembling, WiSE-FT), one network each
    as before. The head's rows of a class the base never learned are the stage's. Exported to ``out`` with the stage
    model's record and ``stage_average`` (the base's sha256 and the share)."""
    import numpy as np
    import torch

    from instrec.bundle import export_model, load_exported
    from instrec.convnet import without_probe
    from instrec.errors import InstrecError
    from instrec.probe import MADE_BY_EXPORT

    if not 0.0 <= share <= 1.0:
        raise InstrecError(f"stage share {share}: use a number from 0 (the base's weights) to 1 (the stage's)")
    stage, card = load_exported(stage_model)
    start, base_card = load_exported(base)
    stage, start = without_probe(stage), without_probe(start)
    if (stage.args != start.args or list(card["classes"]) != list(base_card["classes"])
            or not np.array_equal(card["norm_stats"]["minimum"], base_card["norm_stats"]["minimum"])
            or not np.array_equal(card["norm_stats"]["maximum"], base_card["norm_stats"]["maximum"])):
        raise InstrecError(f"{stage_model}: its networks were not trained from {base} (other networks, classes or "
                           "feature statistics); average a stage with the base it started from")
    base_learned = torch.tensor([bool(t) for t in base_card["trained_classes"]])
    theirs = start.state_dict()
    mixed = {}
    for name, ours in stage.state_dict().items():
        if not ours.is_floating_point():  # batch counters: the stage's
            mixed[name] = ours
            continue
        value = share * ours + (1.0 - share) * theirs[name]
        if any("." + rows in "." + name for rows in CLASS_ROWS):  # a CNN's "head.", an ensemble's "members.i.head."
            keep = ~base_learned.view(-1, *([1] * (ours.dim() - 1)))
            value = torch.where(keep, ours, value)
        mixed[name] = value
    stage.load_state_dict(mixed)
    record = {k: v for k, v in card.items() if k not in MADE_BY_EXPORT | {"probe"}}
    record["stage_average"] = {"base": base_card.get("sha256"), "share": share}
    return export_model(stage.eval(), card, out, record)


def main() -> None:
    from instrec.default_model import base_model_path

    parser = argparse.ArgumentParser()
    parser.add_argument("--src", type=Path, required=True, help="the real_folds.py output (SRC/<fold>/model)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--fold", action="append", required=True)
    parser.add_argument("--share", type=float, default=0.5, help="the stage's share of each weight (0.5)")
    parser.add_argument("--base", type=Path, default=None, help="the model the stage started from (E4)")
    args = parser.parse_args()
    for fold in args.fold:
        (args.out / fold).mkdir(parents=True, exist_ok=True)
        average_with_base(args.src / fold / "model", args.base or base_model_path(), args.out / fold / "model",
                          args.share)
        for clips in sorted((args.src / fold).glob("clips-*")):
            link = args.out / fold / clips.name
            if not link.exists():
                link.symlink_to(clips.resolve())
        print(f"{args.out / fold / 'model'}: the stage's networks at share {args.share:g}, E4's at {1 - args.share:g}")


if __name__ == "__main__":
    main()
