"""Held-out real sources: train the real-recording stage without each source fold in turn, score its recordings.

For fold K of ``real_stage.FOLDS``: ``run_stage`` from the base networks E4 (``instrec/models/base``) without K's
libraries (the first network, the proxy, or all four), then the stage's model and E4 (which heard none of these
libraries) are scored on K's
recordings as files through ``predict``, on long solo pieces played from K's libraries (false alarms: how many
instruments are reported on one), and on the no-instrument test signals. Writes ``OUT/K/scores.json``.

    python scripts/real_folds.py --dataset runs/synth6k --out runs/folds --fold A [--fold B ...]
    python scripts/real_folds.py --out runs/folds --fold A --fold B --fold C --report   # tables from scores.json
    python scripts/real_folds.py --out runs/folds --fold A --score-only --scores scores-now.json   # rescore, no training
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from instrec.io import atomic_write_json


def long_pieces(fold: str, out: Path, count: int, seconds: float, seed: int) -> list[tuple[Path, str]]:
    """Solo pieces of ``seconds`` played from the fold's libraries through the recording chain (WAV, cached)."""
    import soundfile as sf

    from instrec.datasets.synth.parts import SAMPLE_RATE, play_part
    from instrec.datasets.synth.recording import apply_chain, draw_chain
    from instrec.real_stage import FOLDS, training_sources

    held = set(FOLDS[fold])
    sources = training_sources(None, tuple(lib for folds in FOLDS.values() for lib in folds if lib not in held))
    rng = np.random.default_rng(seed)
    items = []
    for n in range(count):
        source = sources[n % len(sources)]
        path = out / f"long-{n:03d}-{source.label}.wav"
        if not path.exists():
            audio, _ = play_part(source, rng, seconds)
            sf.write(str(path), apply_chain(audio, SAMPLE_RATE, draw_chain(rng)), SAMPLE_RATE)
        items.append((path, source.label))
    return items


def rendering_with_note_banks(fold: str, out: Path, size: int = 6000) -> Path:
    """The recipe's rendering (seed 0, csound held out, full labels) with the note banks (notebanks.py) of every
    library outside ``fold`` added to the recipe's banks."""
    from instrec.datasets.synth.notebanks import NOTE_BANKS, bank_name
    from instrec.datasets.synth.openmic import synth_openmic
    from instrec.datasets.synth.soundfonts import fetch_bank
    from instrec.default_model import RECIPE_BANKS
    from instrec.real_stage import FOLDS

    if not (out / "synth-metadata.json").exists():
        pool = [fetch_bank(name) for name in RECIPE_BANKS]
        pool += [fetch_bank(bank_name(lib)) for lib in NOTE_BANKS if lib not in FOLDS[fold]]
        synth_openmic(out, size=size, soundfonts=pool, seed=0, hold_out_bank="csound", labels="full")
    return out


def summarise(model, items, long_items) -> dict:
    from instrec.datasets.synth.negatives import test_signals
    from instrec.real_stage import score_files

    files = score_files(model, items)
    per_class = {c: {"f1_macro": r["f1_macro"], "ap": r.get("ap")} for c, r in files["per_class"].items()
                 if r["positives"]}
    reported = [[c for c, _ in model.predict(path).instruments()] for path, _ in long_items]
    long = [len(r) for r in reported]
    long_hit = [label in r for r, (_, label) in zip(reported, long_items)]
    negatives = {name: [c for c, _ in model.predict(x, sample_rate=16000).instruments()]
                 for name, x in test_signals().items()}
    aps = [r["ap"] for r in per_class.values() if r["ap"] is not None]
    return {"files": len(items), "f1_macro_present": files["f1_macro_present"], "map_present": float(np.mean(aps)),
            "top1": files["top1"], "per_class": per_class, "long_mean_reported": float(np.mean(long)),
            "long_recall": float(np.mean(long_hit)), "negatives": negatives,
            "negatives_reported": sum(len(v) for v in negatives.values())}


def report(out: Path, folds: list[str], name: str = "scores.json") -> str:
    """Markdown tables from the folds' ``scores.json``: per fold, and per class (the mean over the folds where the
    class has recordings) F1-macro and AP, the base model (E4) beside the stage's."""
    import json

    scores = {fold: json.loads((out / fold / name).read_text()) for fold in folds}
    base = {fold: s.get("base", s.get("shipped")) for fold, s in scores.items()}  # "shipped" in early runs
    lines = ["| fold (files) | E4 F1 / mAP / top-1 | with the stage F1 / mAP / top-1 |", "|---|---|---|"]
    fmt = lambda s: f"{s['f1_macro_present']:.3f} / {s['map_present']:.3f} / {s['top1']:.3f}"  # noqa: E731
    for fold in folds:
        lines.append(f"| {fold} ({scores[fold]['candidate']['files']}) | {fmt(base[fold])} | {fmt(scores[fold]['candidate'])} |")
    mean = lambda key, who: float(np.mean([who[f][key] for f in folds]))  # noqa: E731
    cand = {f: scores[f]["candidate"] for f in folds}
    lines.append("| mean | " + " | ".join(" / ".join(f"{mean(k, who):.3f}" for k in ("f1_macro_present", "map_present", "top1"))
                                          for who in (base, cand)) + " |")
    lines += ["", "| class | folds | E4 F1 / AP | with the stage F1 / AP |", "|---|---|---|---|"]
    classes = sorted({c for s in cand.values() for c in s["per_class"]})
    for c in classes:
        present = [f for f in folds if c in cand[f]["per_class"]]
        cell = lambda who, key: float(np.mean([who[f]["per_class"][c][key] for f in present]))  # noqa: E731
        lines.append(f"| {c} | {''.join(present)} | {cell(base, 'f1_macro'):.3f} / {cell(base, 'ap'):.3f} | "
                     f"{cell(cand, 'f1_macro'):.3f} / {cell(cand, 'ap'):.3f} |")
    return "\n".join(lines)


def main() -> None:
    from instrec.default_model import base_model_path
    from instrec.predict import load_model
    from instrec.real_stage import FOLDS, Stage, fold_recordings, run_stage

    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, help="rendered OpenMIC-style dataset (its train split)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--fold", action="append", required=True, choices=sorted(FOLDS))
    parser.add_argument("--real-clips", type=int, default=2500)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--train", choices=["all", "head"], default="all")
    parser.add_argument("--negative-clips", type=int, help="no-instrument clips (default 12%% of --real-clips)")
    parser.add_argument("--recording-files", type=int, default=0,
                        help="per library, up to this many of its recordings as training clips as they are")
    parser.add_argument("--recorded-notes", default="", help="the recorded notes of this sample-set bank (tonejs) join "
                                                        "the recording clips, up to --recording-files per class")
    parser.add_argument("--more-recorded-notes", action="append", default=[], metavar="BANK",
                        help="and the notes of this set too (freepats), as many per class, repeated")
    parser.add_argument("--modelled-solos", type=int, default=0, help="and this many solo clips of them alone")
    parser.add_argument("--modelled", action="append", default=[], choices=["mandolin", "synthesizer", "ukulele"],
                        help="an instrument played from a physical model in every fold's stage (no library)")
    parser.add_argument("--seed", type=int, default=0, help="the stage's seed (its clips and their order)")
    parser.add_argument("--shift", action="store_true",
                        help="the stage's crops start at any 10 ms frame, not only at a 0.96 s example's first")
    parser.add_argument("--members", choices=["first", "all"], default="first",
                        help="train the first network of E4 (the proxy) or all four")
    parser.add_argument("--note-banks", action="store_true",
                        help="the stage's rendered clips come from a rendering (cached in OUT/<fold>/data) whose pool "
                             "adds the note banks of the libraries outside the fold (instead of --dataset)")
    parser.add_argument("--long", type=int, default=12, help="long solo pieces per fold")
    parser.add_argument("--long-seconds", type=float, default=45.0)
    parser.add_argument("--report", action="store_true", help="print the tables of finished folds; train nothing")
    parser.add_argument("--score-only", action="store_true",
                        help="score each fold's finished model (OUT/<fold>/model) and E4 again with this predict; "
                             "train nothing")
    parser.add_argument("--scores", default="scores.json", help="the file each fold's scores go to (and --report reads)")
    args = parser.parse_args()
    if args.report:
        print(report(args.out, args.fold, args.scores))
        return
    for fold in args.fold:
        out = args.out / fold
        n = args.real_clips
        negative = n * 3 // 25 if args.negative_clips is None else args.negative_clips
        stage = Stage(real_clips=n, overlay_clips=n * 2 // 5, rendered_clips=n, negative_clips=negative,
                      negative_overlays=n * 2 // 25, epochs=args.epochs, lr=args.lr, hold_out=FOLDS[fold],
                      members=() if args.members == "all" else (0,),
                      train=args.train, shift=args.shift,
                      recording_files=args.recording_files, note_bank=args.recorded_notes, seed=args.seed,
                      more_note_banks=tuple(args.more_recorded_notes),
                      modelled=tuple(args.modelled), modelled_solos=args.modelled_solos)
        if args.score_only:
            model_dir = out / "model"
            if not (model_dir / "model.json").exists():
                raise SystemExit(f"{model_dir}: no finished model of fold {fold}; run without --score-only first")
        else:
            dataset = rendering_with_note_banks(fold, out / "data") if args.note_banks else args.dataset
            model_dir = run_stage(base_model_path(), out, stage, dataset)
        items = fold_recordings(fold)
        long_items = long_pieces(fold, out, args.long, args.long_seconds, seed=7)
        about = stage.__dict__ | {"hold_out": list(stage.hold_out)}
        if args.score_only:  # the stage the finished model was trained with, as its model.json records it
            import json

            about = json.loads((model_dir / "model.json").read_text()).get("real_stage", {})
        scores = {"fold": fold, "libraries": FOLDS[fold], "stage": about,
                  "candidate": summarise(load_model(model_dir), items, long_items),
                  "base": summarise(load_model(base_model_path()), items, long_items)}
        atomic_write_json(out / args.scores, scores)
        for name in ("base", "candidate"):
            s = scores[name]
            print(f"fold {fold} {name}: F1 {s['f1_macro_present']:.3f} mAP {s['map_present']:.3f} top-1 {s['top1']:.3f} "
                  f"long: {s['long_mean_reported']:.2f} reported, recall {s['long_recall']:.2f}; "
                  f"negatives reported {s['negatives_reported']}")


if __name__ == "__main__":
    main()
