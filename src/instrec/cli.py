"""The ``instrec`` command line: argparse subcommands that parse, then call library functions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from instrec.errors import InstrecError


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, ``instrec: error: ...``, exit 2, like every other bad input."""

    def error(self, message: str):
        if "unrecognized arguments: -" in message or "required: paths" in message:
            message += " (a file whose name starts with '-' goes after --, e.g. `instrec predict -- -take1.wav`)"
        self.exit(2, f"instrec: error: {self.prog}: {message}\n")


def _number(kind, minimum=None, maximum=None, strict_minimum=False):
    """An argparse type: ``kind`` within [minimum, maximum] (``minimum`` excluded if ``strict_minimum``)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole number' if kind is int else 'number'}") from None
        if kind is float and value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        low_bad = minimum is not None and (value <= minimum if strict_minimum else value < minimum)
        if low_bad or (maximum is not None and value > maximum):
            bounds = (f"greater than {minimum}" if strict_minimum else f"at least {minimum}") if maximum is None \
                else f"between {minimum} and {maximum}"
            raise argparse.ArgumentTypeError(f"{text} must be {bounds}")
        return value
    return parse


COUNT = _number(int, 1)  # sizes, epochs, batch sizes, workers, seeds counts, hops
SEED = _number(int, 0)
PROBABILITY = _number(float, 0.0, 1.0)


def _new_path(kind: str):
    """An argparse type for an output folder: an existing file there is an error, not overwritten."""
    def parse(text: str) -> Path:
        path = Path(text)
        if path.exists() and not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text} is an existing file; {kind} must be a folder")
        return path
    return parse


OUT_DIR = _new_path("the output")


def _url(text: str) -> str:
    from urllib.parse import urlparse

    parts = urlparse(text)
    if parts.scheme not in ("http", "https", "file") or not (parts.netloc or parts.scheme == "file"):
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s):// or file:// URL")
    return text


def _add_representation_args(p: argparse.ArgumentParser, default: str | None = "logmel") -> None:
    p.add_argument("--representation", default=default, required=default is None,
                   help="logmel | vggish-random | vggish-audioset (alias vggish) | vggish:CHECKPOINT")
    p.add_argument("--weights", type=Path, help="VGGish state dict (vggish-10086976.pth); default: the cache")
    p.add_argument("--pca", type=Path, help="PCA parameters (vggish_pca_params-970ea276.pth); default: the cache")
    p.add_argument("--postprocess", choices=["pca", "norm", "none"], default=None,
                   help="pca: PCA + 8-bit (uint8); norm: [0,1] with training statistics; none (default: norm)")
    p.add_argument("--rounding", choices=["truncate", "round"], default="truncate",
                   help="8-bit quantisation: truncate (TF/OpenMIC, default) or round (torchvggish)")
    p.add_argument("--no-final-relu", action="store_true", help="drop the ReLU after VGGish's last layer")
    p.add_argument("--seed", type=SEED, default=0, help="seed of vggish-random")
    p.add_argument("--peak-normalize", action="store_true", help="scale audio to peak 1 (as the OpenMIC features)")


def _representation(args: argparse.Namespace, postprocess: str | None = None):
    from instrec.representations.registry import build_representation

    return build_representation(args.representation, weights=args.weights, pca=args.pca,
                                postprocess=postprocess or args.postprocess, final_relu=not args.no_final_relu,
                                seed=args.seed, rounding=args.rounding)


def _add_features(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="compute a representation of one audio file and save it as .npy")
    p.add_argument("audio", type=Path, help="audio file (wav, flac, ogg, mp3...)")
    _add_representation_args(p)
    p.add_argument("--stats", type=Path, help="norm_stats.npz of a features store (needed by --postprocess norm)")
    p.add_argument("--out", type=Path, required=True, help="output .npy path")
    p.add_argument("--hop-frames", type=COUNT, default=96, help="example hop in 10 ms frames (default 96 = 0.96 s)")
    p.set_defaults(run=run_features)


def run_features(args: argparse.Namespace) -> int:
    import torch

    from instrec.audio import load_audio
    from instrec.frontend import waveform_to_examples
    from instrec.io import atomic_save_npy, load_npz
    from instrec.representations.postprocess import normalize_min_max

    postprocess = args.postprocess or ("pca" if args.pca else "none")
    if postprocess == "norm" and args.stats is None:
        raise InstrecError("--postprocess norm needs the training statistics: pass --stats "
                           "DATASET/features/KEY/norm_stats.npz (written by `instrec extract`)")
    if args.out.is_dir():
        raise InstrecError(f"--out {args.out}: is a folder; give the .npy file to write")
    stats = None
    fix = "give DATASET/features/KEY/norm_stats.npz (written by `instrec extract`)"
    if postprocess == "norm":
        if not args.stats.is_file():
            raise InstrecError(f"--stats {args.stats}: no such file; {fix}")
        try:
            stats = load_npz(args.stats)
        except (OSError, ValueError, EOFError):
            stats = {}
        if not {"minimum", "maximum"} <= set(stats):
            raise InstrecError(f"--stats {args.stats}: not the norm_stats.npz of a features store; {fix}")
    representation = _representation(args, postprocess)
    if stats is not None and stats["minimum"].shape[-1:] != tuple(representation.output_shape[-1:]):
        raise InstrecError(f"--stats {args.stats}: statistics of {stats['minimum'].shape[-1]} dimensions, but "
                           f"{representation.key} gives {representation.output_shape[-1]}; {fix} of this representation")
    samples = load_audio(args.audio, peak_normalize=args.peak_normalize)
    features = representation.embed(torch.from_numpy(waveform_to_examples(samples, args.hop_frames)))
    if postprocess == "norm":
        features = normalize_min_max(features, stats)
    atomic_save_npy(args.out, features)
    print(f"{args.out}: {features.shape} {features.dtype}")
    return 0


def _add_weights(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="released weights: fetch (verified download) or show where they go")
    p.add_argument("action", choices=["fetch", "path"])
    p.add_argument("--base-url", type=_url, help="download from this mirror instead of the GitHub release")
    p.set_defaults(run=run_weights)


def run_weights(args: argparse.Namespace) -> int:
    from instrec import weights

    for name, spec in weights.WEIGHTS.items():
        if args.action == "fetch":
            path = weights.fetch(name, args.base_url)
            print(f"{name}: {path} (sha256 verified)")
        else:
            print(f"{name}: {weights.cache_dir() / spec.filename} <- {spec.url}")
    return 0


def _add_extract(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="embed every clip of a dataset once into a cached features store")
    p.add_argument("--dataset", type=Path, required=True, help="dataset folder (OpenMIC, NSynth or Freesound format)")
    _add_representation_args(p, default=None)
    p.add_argument("--splits", help="comma-separated splits (default: all)")
    p.add_argument("--batch-clips", type=COUNT, default=16)
    p.add_argument("--write-npz", action="store_true", help="also write X into openmic-2018.npz (OpenMIC layout)")
    p.set_defaults(run=run_extract)


def run_extract(args: argparse.Namespace) -> int:
    from instrec.extract import FeatureStore, extract, open_dataset

    representation = _representation(args)
    dataset = open_dataset(args.dataset)
    splits = args.splits.split(",") if args.splits else None
    out = extract(dataset, representation, splits, batch_clips=args.batch_clips,
                  peak_normalize=args.peak_normalize, write_npz=args.write_npz)
    store = FeatureStore(out)
    failed = sum(len(store.failed(s)) for s in (splits or dataset.splits))
    print(f"{out}: features of {representation.key}" + (f"; {failed} clips skipped (see *.failed.json)" if failed else ""))
    return 1 if failed else 0


def _add_soundfonts(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("soundfonts", help="the pool of real-sample General MIDI banks: fetch, list, path")
    p.add_argument("action", choices=["fetch", "list", "path"])
    p.add_argument("banks", nargs="*", help="bank names (default: the default pool; `all` for every known bank)")
    p.add_argument("--deb-dir", type=Path, help="take the .deb packages from this folder instead of apt-get download")
    p.add_argument("--npm-dir", type=Path, help="take the npm tarballs of sample sets (tonejs) from this folder")
    p.add_argument("--soundfont", type=Path, action="append", default=[], help="also list this .sf2/.sf3 file")
    p.set_defaults(run=run_soundfonts)


def run_soundfonts(args: argparse.Namespace) -> int:
    from instrec.datasets.synth import soundfonts

    names = list(soundfonts.BANKS) if args.banks == ["all"] else (args.banks or list(soundfonts.DEFAULT_POOL))
    unknown = [name for name in names if name not in soundfonts.BANKS]
    if unknown:
        raise InstrecError(f"unknown SoundFont bank {unknown[0]!r}; see `instrec soundfonts list all` for the known "
                           "banks")
    if args.action == "path":
        if not args.banks:
            print(soundfonts.soundfont_dir())
            return 0
        missing = [name for name in names if soundfonts.locate(name) is None]
        for name in names:
            print(f"{name}: {soundfonts.locate(name) or f'not here (`instrec soundfonts fetch {name}`)'}")
        return 1 if missing else 0
    if args.action == "fetch":
        got, failed = soundfonts.fetch(names, args.deb_dir, args.npm_dir)
        for name, path in got.items():
            how = "computed here, nothing downloaded" if soundfonts.BANKS[name].kind == "synth" else "sha256 verified"
            print(f"{name}: {path} ({how})")
        for name, why in failed.items():
            print(f"instrec: {name}: not fetched: {why}", file=sys.stderr)
        if failed:
            print(f"instrec: rendering goes on with {', '.join(got) or 'TimGM6mb (from pretty_midi)'}", file=sys.stderr)
        return 1 if failed else 0
    from instrec.datasets.synth.openmic import available_classes
    from instrec.datasets.synth.render import Renderer

    rows = [(name, soundfonts.locate(name)) for name in names] + [(str(p), p) for p in args.soundfont]
    for name, path in rows:
        if path is None:
            print(f"{name}: not here (`instrec soundfonts fetch {name}`)")
            continue
        if name in soundfonts.BANKS and soundfonts.BANKS[name].kind == "stk":
            print(f"{name}: {path}; the body responses of the modelled mandolin (the real stage's; not a SoundFont)")
            continue
        classes = sorted(available_classes(Renderer([path])))
        plays = f"{len(classes)} class" + ("" if len(classes) == 1 else "es")
        print(f"{name}: {path} ({path.stat().st_size / 1e6:.0f} MB); plays {plays}: {', '.join(classes)}")
    return 0


def _add_recordings(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recordings", help="real recordings of instruments for training: fetch (verified), list, path")
    p.add_argument("action", choices=["fetch", "list", "path"])
    p.add_argument("names", nargs="*", help="libraries (folder or short name) or classes (default: all)")
    p.add_argument("--from", dest="from_dir", type=Path,
                   help="take the files from a local copy in the manifest's layout (checked by their decoded samples)")
    p.add_argument("--deb-dir", type=Path,
                   help="take the Debian packages (klettres-data, grandorgue-demo, ktuberling-data) from this folder")
    p.set_defaults(run=run_recordings)


def run_recordings(args: argparse.Namespace) -> int:
    from instrec.datasets import recordings

    if args.action == "path":
        print(recordings.recordings_dir())
        return 0
    if args.from_dir is not None and not args.from_dir.is_dir():
        raise InstrecError(f"{args.from_dir}: not a folder; --from needs a local copy of the recordings "
                           "(<library>/<path> as in the manifest)")
    chosen = recordings.select(recordings.read_manifest(), args.names)
    if args.action == "list":
        here = {rec.path for rec, _ in recordings.located(chosen)}
        for row in recordings.summary(chosen):
            classes = ", ".join(f"{c} {n}" for c, n in sorted(row["classes"].items()))
            count = sum(row["classes"].values())
            have = sum(1 for r in chosen if r.library == row["library"] and r.path in here)
            print(f"{row['library']}: {classes}; {row['licence']}; {row['source']}; {have}/{count} fetched")
        return 0
    from tqdm import tqdm

    got, failed = recordings.fetch(args.names, args.from_dir, deb_dir=args.deb_dir,
                                   progress=lambda items: tqdm(items, desc="recordings", unit="file", leave=False))
    print(f"{len(got)} recordings verified in {recordings.recordings_dir()}")
    for why in failed.values():
        print(f"instrec: {why}", file=sys.stderr)
    if failed:
        print(f"instrec: {len(failed)} of {len(got) + len(failed)} recordings not fetched; run the same command "
              "again to retry them (the verified ones are kept)", file=sys.stderr)
    return 1 if failed else 0


def _add_holdout(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("holdout", help="leave-one-bank-out: train without a bank, test on it (and on real recordings)")
    p.add_argument("--bank", action="append", default=None, help="bank to hold out (repeatable; default: every bank "
                                                                   "of the pool in turn)")
    p.add_argument("--representation", action="append", default=None,
                   help="representation to train the attention classifier on, or `cnn` (the compact CNN on "
                        "log-mel; repeatable; default logmel and vggish-random)")
    p.add_argument("--size", type=COUNT, default=800, help="clips per rendered dataset (default 800)")
    p.add_argument("--epochs", type=COUNT, default=60)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--real", type=Path, help="a folder of labelled real recordings to score too")
    p.add_argument("--real-labels", type=Path, help="its labels CSV (default: REAL/labels.csv)")
    p.add_argument("--reference", type=Path, action="append", default=[],
                   help="an OpenMIC-format dataset to compare with (repeatable; each trained once, scored on every "
                        "held-out bank)")
    p.add_argument("--labels", choices=["partial", "full"], default="partial",
                   help="labels of the rendered datasets (default partial, as the study)")
    p.add_argument("--out", type=OUT_DIR, default=Path("runs/holdout"))
    p.set_defaults(run=run_holdout_command)


def run_holdout_command(args: argparse.Namespace) -> int:
    from instrec.datasets.synth.soundfonts import bank_name, pool_paths
    from instrec.generalisation import holdout_markdown, run_holdout

    from instrec.training import check_rendered_size

    for name in ("size", "epochs"):
        if getattr(args, name) < 1:
            raise InstrecError(f"--{name} {getattr(args, name)}: must be at least 1")
    check_rendered_size(args.size)
    pool = pool_paths()
    banks = args.bank or [bank_name(p) for p in pool]
    outside = [b for b in banks if b not in {bank_name(p) for p in pool}]
    if outside:
        raise InstrecError(f"--bank {outside[0]}: not in the pool ({', '.join(bank_name(p) for p in pool)}); name a "
                           "bank of the pool, or `instrec soundfonts fetch` it first")
    if len(pool) < 2:
        raise InstrecError("the pool has one bank; `instrec soundfonts fetch` adds the others")
    from instrec.config import TrainConfig
    from instrec.datasets.openmic import OpenMIC
    from instrec.generalisation import resolve_candidate
    from instrec.representations.registry import build_representation

    for rep in args.representation or []:  # each built once now: an unknown name or missing weights fails here
        build_representation(resolve_candidate(rep, TrainConfig())[0])
    for reference in args.reference:
        OpenMIC(reference)
    real = (args.real, args.real_labels or args.real / "labels.csv") if args.real else None
    if real:
        from instrec.datasets.classes import OPENMIC_CLASSES
        from instrec.evaluation import read_labels

        if not args.real.is_dir():
            raise InstrecError(f"--real {args.real}: not a folder; give a folder of labelled recordings")
        read_labels(real[1], real[0], list(OPENMIC_CLASSES))  # every row checked before rendering
    results = run_holdout(banks, args.representation or ["logmel", "vggish-random"], args.out, args.size, args.epochs,
                          args.seed, real, args.reference, pool, args.labels)
    print(holdout_markdown(results))
    print(f"{args.out}: results.md, results.json")
    return 0


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="datasets: render the embedded default data")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    synth = data_sub.add_parser("synth", help="render a small dataset from SoundFonts in a real dataset's format")
    synth.add_argument("--kind", choices=["openmic", "nsynth", "freesound"], required=True)
    synth.add_argument("--out", type=OUT_DIR, required=True, help="output folder")
    synth.add_argument("--size", type=COUNT, default=None, help="clips / notes / sounds (default 400 / 1200 / 1000)")
    synth.add_argument("--bank", action="append", default=None,
                       help="a bank of the pool by name (repeatable; default: every fetched default bank, "
                            "see `instrec soundfonts list`)")
    synth.add_argument("--soundfont", type=Path, action="append", default=None,
                       help="your own .sf2/.sf3 file (repeatable): joins the banks named with --bank; "
                            "given without --bank, the pool is your files alone")
    synth.add_argument("--hold-out-bank", help="put every clip of this bank (its group) in the test split and "
                                               "none in train/validation: the generalisation protocol")
    synth.add_argument("--labels", choices=["partial", "full"], default="partial",
                       help="openmic: OpenMIC-like partial crowd labels (default) or every playable class labelled")
    synth.add_argument("--dry", action="store_true", help="no recording chain (room, mic, noise, codec...)")
    synth.add_argument("--arrangement", action="append", choices=["solo", "ensemble", "band"], default=None,
                       help="openmic: arrangement types to draw from (repeatable; default all three)")
    synth.add_argument("--seed", type=SEED, default=0)
    synth.add_argument("--workers", type=COUNT, default=None, help="render processes (default: all cores)")
    synth.set_defaults(run=run_data_synth)


DEFAULT_SYNTH_SIZES = {"openmic": 400, "nsynth": 1200, "freesound": 1000}


def run_data_synth(args: argparse.Namespace) -> int:
    from instrec.datasets.synth import synth_dataset
    from instrec.datasets.synth.soundfonts import ONLY_TIMGM6MB, bank_name, only_timgm6mb, pool_paths, split_banks

    size = args.size or DEFAULT_SYNTH_SIZES[args.kind]
    for font in args.soundfont or []:  # checked before anything is written
        if not font.is_file():
            raise InstrecError(f"{font}: SoundFont not found; give the path of a .sf2 or .sf3 file")
        if font.suffix.lower() not in (".sf2", ".sf3"):
            raise InstrecError(f"{font}: not a SoundFont (.sf2 or .sf3); give a SoundFont file")
    paths = pool_paths(args.bank, args.soundfont) if args.bank or not args.soundfont else list(args.soundfont)
    banks = [bank_name(p) for p in paths]
    if args.hold_out_bank is not None:
        split_banks(paths, args.hold_out_bank, ("train", "test"))
    if only_timgm6mb(paths):
        print(ONLY_TIMGM6MB, file=sys.stderr)
    options = {"hold_out_bank": args.hold_out_bank}
    if args.kind == "openmic":
        options.update(labels=args.labels, recording=not args.dry,
                       arrangements=tuple(args.arrangement or ("solo", "ensemble", "band")))
    elif args.kind == "freesound":
        options["recording"] = not args.dry
    out = synth_dataset(args.kind, args.out, size=size, soundfonts=paths, seed=args.seed, workers=args.workers,
                        **options)
    print(f"{out}: rendered {size} {args.kind} items from {', '.join(banks)}")
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="stage 2: train the attention classifier on an OpenMIC-format dataset")
    p.add_argument("--dataset", type=Path, required=True, help="OpenMIC-format folder")
    _add_representation_args(p)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a training setting (epochs, batch_size, lr, seed, variant, threshold, ...)")
    p.add_argument("--out", type=OUT_DIR, help="run folder (default: runs/train-<representation key>-s<seed>)")
    p.add_argument("--baseline", action="store_true", help="also fit the OpenMIC random-forest baseline")
    p.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    from instrec.config import TrainConfig, apply_overrides
    from instrec.training import format_table, run_training

    config = apply_overrides(TrainConfig(), args.set)
    representation = _representation(args)
    out = args.out or Path("runs") / f"train-{representation.key}-s{config.seed}"
    result = run_training(args.dataset, representation, config, out, baseline=args.baseline,
                          peak_normalize=args.peak_normalize)
    if "test" not in result:  # another rank of a torchrun launch: rank 0 reports
        return 0
    print(format_table(result["test"]))
    print(f"{out}: best epoch {result['best_epoch']}, validation F1-macro {result['best_val_f1_macro']:.3f}, "
          f"test F1-macro {result['test']['f1_macro']:.3f}")
    if "baseline_rf" in result:
        print(f"random-forest baseline on the same features: test F1-macro {result['baseline_rf']['f1_macro']:.3f}")
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained run on the test split; writes JSON and CSV reports")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--dataset", type=Path, help="dataset folder (default: the one the run was trained on)")
    p.add_argument("--strict-threshold", action="store_true", help="count p > 0.5 as positive instead of >= 0.5")
    p.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from instrec.training import evaluate_run, format_table

    result = evaluate_run(args.run_dir, args.dataset, strict=args.strict_threshold or None)
    print(format_table(result))
    print(f"{args.run_dir}: test F1-macro {result['f1_macro']:.3f}, mAP {result['map']:.3f}")
    return 0


INPUT_LEVEL_HELP = ("how the recording's level is set before the network hears it: none (as it is), fixed (its peak "
                    "moved to -9.5 dBFS, so the volume does not matter) or range (its peak moved into the -18..-1 "
                    "dBFS of the training clips); default: the model's own (the shipped model's is fixed)")


def _floor(text: str) -> float:
    """--floor: a probability, or none (1.0: at or above any threshold, so never used)."""
    return 1.0 if text.strip().lower() == "none" else PROBABILITY(text)


FLOOR_HELP = ("where no instrument reaches the threshold, report the most probable one if its probability is at least "
              "this (with a gated model such as the shipped one, only where its gate hears one instrument alone); none "
              "for never (default: the model's own: the shipped model's is 0.25)")
THRESHOLD_HELP = ("decision threshold (default: the model's own: the shipped model's was chosen on validation; a "
                  "trained run's is 0.5 unless it was trained with --set threshold=T)")


def _add_evaluate_audio(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate-audio", help="score a model on your own labelled recordings (F1, AP, top-1, confusion)")
    p.add_argument("--audio", type=Path, required=True, help="folder of recordings")
    p.add_argument("--labels", type=Path, help="CSV file,instruments (instruments separated by ;, every class not "
                                               "listed is absent; default: AUDIO/labels.csv)")
    p.add_argument("--model", type=Path, help="a run, study or exported model folder (default: the shipped model)")
    p.add_argument("--threshold", type=PROBABILITY, help=THRESHOLD_HELP)
    p.add_argument("--floor", type=_floor, metavar="P|none", help=FLOOR_HELP)
    p.add_argument("--input-level", metavar="{none,fixed,range}", help=INPUT_LEVEL_HELP)
    p.add_argument("--out", type=OUT_DIR, help="report folder (default: runs/evaluate-audio/<audio folder name>)")
    p.set_defaults(run=run_evaluate_audio)


def run_evaluate_audio(args: argparse.Namespace) -> int:
    from instrec.datasets.classes import OPENMIC_CLASSES
    from instrec.evaluation import evaluate_audio, format_evaluation, read_labels, write_evaluation
    from instrec.predict import load_model

    if not args.audio.is_dir():
        raise InstrecError(f"{args.audio}: not a folder; --audio takes the folder the labels CSV names files in")
    labels = args.labels or args.audio / "labels.csv"
    classes = list(OPENMIC_CLASSES)
    if args.model is not None:  # a model of your own classes (train-audio): its model.json names them
        try:
            classes = list(json.loads((args.model / "model.json").read_text())["classes"])
        except (OSError, ValueError, KeyError, TypeError):
            classes = None  # a run or study folder, or a broken card: checked against the model once it loads
    read_labels(labels, args.audio, classes)  # a bad labels file is reported before the model loads
    model = load_model(args.model, args.threshold, input_level=args.input_level, floor=args.floor)
    result = evaluate_audio(model, args.audio, labels)
    out = args.out or Path("runs") / "evaluate-audio" / args.audio.resolve().name
    written = write_evaluation(result, out)
    print(format_evaluation(result))
    print(f"{out}: {', '.join(p.name for p in written)}")
    return 1 if result["failed"] else 0


def _add_pretrain(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="stage 1: pre-train VGGish (or, --set encoder=cnn, the compact CNN) with one "
                                        "of the paper's objectives")
    p.add_argument("--objective", required=True,
                   choices=["textual", "denoise-additive", "denoise-multiplicative", "align"])
    p.add_argument("--dataset", type=Path, required=True, help="NSynth folder (textual, denoise-*) or Freesound (align)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting (max_epochs, patience, batch_size, lr, seed, precision, devices, "
                        "strategy, num_nodes, word_vectors, ...)")
    p.add_argument("--out", type=OUT_DIR, help="run folder (default: runs/pretrain-<objective>-s<seed>)")
    p.set_defaults(run=run_pretrain)


def run_pretrain(args: argparse.Namespace) -> int:
    from instrec.config import PretrainConfig, apply_overrides
    from instrec.pretraining.stage1 import pretrain

    from instrec.io import one_writer

    config = apply_overrides(PretrainConfig(), args.set)
    out = args.out or Path("runs") / f"pretrain-{args.objective}-s{config.seed}"
    with one_writer(out, "run folder"):
        checkpoint = pretrain(args.objective, args.dataset, out, config)
    if checkpoint is not None and config.encoder == "cnn":
        print(f"{checkpoint}: the compact CNN pre-trained with {args.objective}; train from it with --representation "
              f"logmel --set architecture=cnn --set init={checkpoint}")
    elif checkpoint is not None:  # None on the other ranks of a multi-process run
        print(f"{checkpoint}: VGGish pre-trained with {args.objective}; use --representation vggish:{checkpoint}")
    return 0


def _add_train_default(sub: argparse._SubParsersAction) -> None:
    from instrec.default_model import Recipe

    r = Recipe()
    p = sub.add_parser("train-default", help="reproduce the model shipped with instrec (render, train, export)")
    p.add_argument("--out", type=OUT_DIR, default=Path("runs/default-model"), help="work and output folder "
                                                                                "(default runs/default-model)")
    p.add_argument("--size", type=COUNT, default=r.size, help=f"clips to render (default {r.size})")
    p.add_argument("--epochs", type=COUNT, default=r.epochs,
                   help=f"training epochs (default {r.epochs}; the default members average the last 10, so fewer "
                        "need --member settings with a smaller swa_epochs)")
    p.add_argument("--seed", type=SEED, default=r.seed)
    p.add_argument("--hold-out-bank", default=r.hold_out_bank,
                   help=f"bank kept out of training, the test split (default {r.hold_out_bank})")
    p.add_argument("--bank", dest="banks", action="append",
                   help=f"a bank of the pool, repeated (default: {' '.join(r.banks)})")
    p.add_argument("--member", dest="members", action="append", metavar="SETTINGS",
                   help="one network of the ensemble, as training settings key=value[,key=value] ('' for the "
                        f"candidate's own), repeated (default: {' '.join(repr(m) for m in r.members)})")
    p.add_argument("--base", choices=["e4", "scratch"], default=r.base,
                   help="e4 (default): start from the base networks shipped in instrec/models/base; scratch: train "
                        "them here first (E4's recipe: --size 20000, 2.8 hours on 2 cores)")
    p.add_argument("--no-real-stage", action="store_true", help="skip the real-recording stage")
    p.add_argument("--recording-files", type=SEED, default=r.recording_files,
                   help="the real stage also hears up to this many recordings of each library as they are "
                        f"(default {r.recording_files})")
    p.add_argument("--recorded-notes", default=r.recorded_notes, metavar="BANK",
                   help="and as many recorded notes of each instrument of this sample set of the pool "
                        f"(default {r.recorded_notes}; '' for none)")
    p.add_argument("--more-recorded-notes", action="append", metavar="BANK",
                   help="and as many notes of each instrument of this further set (freepats), repeated; none for no "
                        f"further set (default: {' '.join(r.more_recorded_notes) or 'none'})")
    p.add_argument("--modelled", action="append", choices=["mandolin", "synthesizer", "ukulele", "none"],
                   help="an instrument no recording reaches, played from a model in the real stage (mandolin: "
                        "a physical model, its material fetched like the banks; synthesizer: drawn synthesizer "
                        "presets; ukulele: the mandolin's model played as a ukulele), repeated; none for no such "
                        f"instrument (default: {' '.join(r.modelled) or 'none'})")
    p.add_argument("--modelled-solos", type=SEED, default=r.modelled_solos, metavar="N",
                   help="and N solo clips of the modelled instruments alone in the real stage "
                        f"(default {r.modelled_solos})")
    p.add_argument("--probe", choices=["gated", "always", "none"],
                   help="after the real stage, average the network's head with a linear probe fitted on the real "
                        "recordings and the recorded notes (instrec.probe): gated (default), where a gate hears one "
                        "real instrument alone; always, on every window (better on single real instruments, worse on "
                        "mixtures); none (the default with --no-real-stage)")
    p.add_argument("--probe-worn", action=argparse.BooleanOptionalAction, default=r.probe_worn,
                   help="the probe and its gate also learn each recording and note once more as a worn recording "
                        f"(clipped, noisy, band-limited) (default: {'on' if r.probe_worn else 'off'})")
    p.add_argument("--probe-copies", action="append", choices=["pitched", "rerecorded", "none"],
                   help="the probe and its gate also learn each recording and note once more as a copy of this kind: "
                        "pitched, 1 to 3 semitones higher or lower; rerecorded, in another room through another "
                        f"microphone; repeated; none for none (default: {' '.join(r.probe_copies) or 'none'})")
    p.add_argument("--probe-notes", action="append", metavar="BANK",
                   help="the probe and its gate also learn the recorded notes of this set (freepats), repeated; none "
                        f"for no further set (default: {' '.join(r.probe_notes) or 'none'})")
    p.add_argument("--probe-features", choices=["embedding", "pooled", "both"], default=r.probe_features,
                   help="what the probe and its gate read: the networks' embeddings, the pooled convolution features "
                        f"they are made from, or both (default {r.probe_features})")
    p.add_argument("--floor", type=_floor, default=r.floor, metavar="P|none",
                   help="where no instrument reaches the threshold, the export reports the most probable one down to "
                        f"this probability; none for never (default {r.floor})")
    p.add_argument("--recordings", type=Path, help="the real recordings (default: the `instrec recordings` cache)")
    p.add_argument("--hold-out-fold", default="", help="leave this source fold (real_stage.FOLDS) out of the real "
                                                       "stage, to measure on it")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda: a GPU only makes it faster")
    p.set_defaults(run=run_train_default)


def run_train_default(args: argparse.Namespace) -> int:
    import dataclasses

    from instrec.default_model import Recipe, train_default

    from instrec.training import check_device, check_rendered_size

    for name in ("size", "epochs"):
        if getattr(args, name) < 1:
            raise InstrecError(f"--{name} {getattr(args, name)}: must be at least 1")
    check_rendered_size(args.size)
    check_device(args.device)
    if args.no_real_stage and args.probe not in (None, "none"):
        raise InstrecError("the probe is fitted after the real stage: drop --no-real-stage, or use --probe none")
    modelled = Recipe().modelled if args.modelled is None else tuple(m for m in args.modelled if m != "none")
    no_probe = args.no_real_stage or args.probe == "none"
    if no_probe and args.probe_notes and any(b != "none" for b in args.probe_notes):
        raise InstrecError("probe notes are learned by the probe: drop --probe-notes, or keep the probe (--probe gated)")
    probe_notes = () if no_probe else Recipe().probe_notes if args.probe_notes is None else \
        tuple(b for b in args.probe_notes if b != "none")
    if no_probe and args.probe_copies and any(k != "none" for k in args.probe_copies):
        raise InstrecError("copies are learned by the probe: drop --probe-copies, or keep the probe (--probe gated)")
    probe_copies = () if no_probe else Recipe().probe_copies if args.probe_copies is None else \
        tuple(dict.fromkeys(k for k in args.probe_copies if k != "none"))
    if args.no_real_stage and args.more_recorded_notes and any(b != "none" for b in args.more_recorded_notes):
        raise InstrecError("more recorded notes are played in the real stage: drop --more-recorded-notes, or drop "
                           "--no-real-stage")
    if args.modelled_solos and not modelled:
        raise InstrecError(f"--modelled-solos {args.modelled_solos}: needs a modelled instrument (--modelled "
                           "synthesizer or mandolin)")
    recipe = dataclasses.replace(Recipe(), size=args.size, epochs=args.epochs, seed=args.seed,
                                 hold_out_bank=args.hold_out_bank, device=args.device,
                                 banks=tuple(args.banks or Recipe().banks), base=args.base,
                                 real_stage=not args.no_real_stage,
                                 probe="" if args.no_real_stage or args.probe == "none"
                                 else args.probe or Recipe().probe,
                                 recording_files=args.recording_files, recorded_notes=args.recorded_notes,
                                 more_recorded_notes=Recipe().more_recorded_notes if args.more_recorded_notes is None
                                 else tuple(b for b in args.more_recorded_notes if b != "none"),
                                 modelled=modelled,
                                 hold_out_fold=args.hold_out_fold, probe_worn=args.probe_worn,
                                 modelled_solos=args.modelled_solos, probe_notes=probe_notes,
                                 probe_copies=probe_copies, probe_features=args.probe_features,
                                 floor=None if args.floor is None or args.floor >= 1 else args.floor,
                                 members=tuple(Recipe().members if args.members is None else args.members))
    train_default(args.out, recipe, recordings_root=args.recordings)
    print(f"{args.out / 'model'}: use it with --model {args.out / 'model'}, or copy model.json and "
          "model.safetensors into src/instrec/models/default/ to ship it")
    return 0


def _add_train_real(sub: argparse._SubParsersAction) -> None:
    from instrec.real_stage import FOLDS, Stage

    st = Stage()
    p = sub.add_parser("train-real", help="train a model further on real recordings and no-instrument sounds "
                                          "(the real-recording stage), export it")
    p.add_argument("--base", type=Path, help="exported model to start from (default: the shipped model)")
    p.add_argument("--dataset", type=Path, required=True,
                   help="rendered OpenMIC-style dataset whose train split gives the rendered clips and overlays "
                        "(`instrec data synth --kind openmic --labels full ...`)")
    p.add_argument("--out", type=OUT_DIR, default=Path("runs/real-stage"), help="work and output folder")
    p.add_argument("--recordings", type=Path, help="folder of the real recordings (default: the "
                                                   "`instrec recordings` cache)")
    p.add_argument("--real-clips", type=COUNT, default=st.real_clips, help=f"default {st.real_clips}")
    p.add_argument("--overlay-clips", type=SEED, default=st.overlay_clips, help=f"default {st.overlay_clips}")
    p.add_argument("--rendered-clips", type=SEED, default=st.rendered_clips, help=f"default {st.rendered_clips}")
    p.add_argument("--negative-clips", type=SEED, default=st.negative_clips, help=f"default {st.negative_clips}")
    p.add_argument("--recording-files", type=SEED, default=st.recording_files,
                   help=f"per library, up to this many recordings as clips as they are (default {st.recording_files})")
    p.add_argument("--recorded-notes", default=st.note_bank, metavar="BANK",
                   help="and as many recorded notes of each instrument of this sample set (e.g. tonejs; fetched with "
                        "`instrec soundfonts fetch`)")
    p.add_argument("--modelled", action="append", choices=["mandolin", "synthesizer", "ukulele"], default=[],
                   help="an instrument no recording reaches, played from a model (mandolin: a physical model, "
                        "`instrec soundfonts fetch stk-mandolin` first; synthesizer: drawn presets; ukulele: the "
                        "mandolin's model played as a ukulele), repeated")
    p.add_argument("--epochs", type=COUNT, default=st.epochs, help=f"default {st.epochs}")
    p.add_argument("--lr", type=float, default=st.lr, help=f"default {st.lr}")
    p.add_argument("--seed", type=SEED, default=st.seed)
    p.add_argument("--hold-out-fold", choices=sorted(FOLDS), help="leave this source fold's libraries out")
    p.add_argument("--threshold", type=float, help="decision threshold of the export (default: the base model's)")
    p.set_defaults(run=run_train_real)


def run_train_real(args: argparse.Namespace) -> int:
    from instrec.real_stage import FOLDS, Stage, run_stage

    if args.threshold is not None and not 0 < args.threshold < 1:
        raise InstrecError(f"--threshold {args.threshold}: must lie between 0 and 1")
    stage = Stage(real_clips=args.real_clips, overlay_clips=args.overlay_clips, rendered_clips=args.rendered_clips,
                  negative_clips=args.negative_clips, recording_files=args.recording_files,
                  note_bank=args.recorded_notes, epochs=args.epochs, lr=args.lr, seed=args.seed,
                  hold_out=FOLDS[args.hold_out_fold] if args.hold_out_fold else (), modelled=tuple(args.modelled))
    if stage.modelled:
        from instrec.datasets.synth.modelled import check_modelled

        check_modelled(stage.modelled)
    if stage.note_bank:
        from instrec.real_stage import bank_notes

        bank_notes(stage.note_bank)  # a sample set, fetched: checked before any work
    model = run_stage(args.base, args.out, stage, args.dataset, args.recordings, args.threshold)
    print(f"{model}: exported; use it with --model {model}")
    return 0


def _add_train_audio(sub: argparse._SubParsersAction) -> None:
    from instrec.train_audio import MODES, AudioTrainConfig

    c = AudioTrainConfig()
    p = sub.add_parser("train-audio", help="teach instrec your instruments from a folder of labelled recordings")
    p.add_argument("--audio", type=Path, required=True, help="folder of recordings")
    p.add_argument("--labels", type=Path, help="CSV file,instruments (instruments separated by ;, any names; "
                                               "default: AUDIO/labels.csv)")
    p.add_argument("--out", type=OUT_DIR, required=True, help="the model folder to write")
    p.add_argument("--only-my-classes", action="store_true", help="drop the shipped classes the labels never name")
    p.add_argument("--mode", choices=MODES, default=c.mode, help=f"the shipped encoder frozen or fine-tuned "
                                                                  f"(default {c.mode}, chosen by measurement)")
    p.add_argument("--folds", type=COUNT, default=c.folds, help=f"cross-validation folds, grouped by file "
                                                                 f"(default {c.folds})")
    p.add_argument("--epochs", type=COUNT, default=c.epochs, help=f"default {c.epochs}")
    p.add_argument("--seed", type=SEED, default=c.seed)
    p.add_argument("--base", type=Path, help="the exported model to start from (default: the shipped model)")
    p.set_defaults(run=run_train_audio)


def run_train_audio(args: argparse.Namespace) -> int:
    from instrec.train_audio import AudioTrainConfig, train_audio

    if not args.audio.is_dir():
        raise InstrecError(f"--audio {args.audio}: not a folder; give the folder of your recordings")
    if args.out.exists() and any(args.out.iterdir()):
        raise InstrecError(f"--out {args.out}: not empty; give a new folder for the model")
    config = AudioTrainConfig(mode=args.mode, epochs=args.epochs, folds=args.folds, seed=args.seed,
                              only_my_classes=args.only_my_classes)
    report = train_audio(args.audio, args.labels or args.audio / "labels.csv", args.out, config, args.base,
                         log=lambda m: print(m, file=sys.stderr))
    cv, shipped = report["cross_validation"], report["base_model_on_the_same_files"] or {}
    print(f"cross-validated ({cv['folds']} folds, grouped by file), F1-macro at {config.threshold} / AP:")
    for c, r in cv["per_class"].items():
        before = shipped.get(c)
        was = f"   (before: {before['f1_macro']:.3f} / {before['ap']:.3f})" if before else ""
        print(f"  {c:20} {r['f1_macro']:.3f} / {r['ap']:.3f}  ({r['positives']} files){was}")
    print(f"{args.out}: use it with --model {args.out}; {report['seconds']:.0f} s")
    return 0


def _add_study(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="run the paper's grid of representations; writes the table, figures and report")
    p.add_argument("--profile", default="quick", help="quick (default; embedded data, < 20 min on 2 cores), paper, "
                                                      "tiny, or a .toml file")
    p.add_argument("--openmic", type=Path, help="a real OpenMIC-2018 folder (default: the embedded rendering)")
    p.add_argument("--nsynth", type=Path, help="a real NSynth folder")
    p.add_argument("--freesound", type=Path, help="a Freesound folder")
    p.add_argument("--weights", type=Path, help="AudioSet VGGish weights (default: the cache)")
    p.add_argument("--pca", type=Path, help="AudioSet PCA parameters (default: the cache)")
    p.add_argument("--seeds", type=COUNT, help="stage-2 seeds per row (default: the profile's)")
    p.add_argument("--data-dir", type=Path, help="where the embedded data is rendered (default: data/embedded-<profile>)")
    p.add_argument("--out", type=OUT_DIR, help="study folder (default: runs/study-<profile>)")
    p.add_argument("--real", type=Path, help="a folder of labelled real recordings: every row whose model runs on "
                                             "audio is scored on it too, beside the test split")
    p.add_argument("--labels", type=Path, help="with --real: its labels CSV (default: REAL/labels.csv; the "
                                               "evaluate-audio format)")
    p.set_defaults(run=run_study_command)


def run_study_command(args: argparse.Namespace) -> int:
    from instrec.study import results_markdown, run_study

    results = run_study(args.profile, args.out, args.openmic, args.nsynth, args.freesound, args.weights, args.pca,
                        args.data_dir, args.seeds, args.real, args.labels)
    print(results_markdown(results))
    out = args.out or Path("runs") / f"study-{results['config']['profile']}"
    print(f"{out}: report.md, results.{{md,csv,json}}, figures; {results['seconds'] / 60:.1f} min")
    failed = [r["label"] for r in results["rows"] if r["state"] == "failed"]
    return 1 if failed else 0


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="which instruments play in your recordings, and when")
    p.add_argument("paths", nargs="+", type=Path, help="audio files or folders (searched recursively)")
    p.add_argument("--model", type=Path, help="a run folder (train or study cell), a study folder (its best row) "
                                              "or an exported model; default: the model shipped with instrec")
    p.add_argument("--threshold", type=PROBABILITY, help=THRESHOLD_HELP)
    p.add_argument("--floor", type=_floor, metavar="P|none", help=FLOOR_HELP)
    p.add_argument("--input-level", metavar="{none,fixed,range}", help=INPUT_LEVEL_HELP)
    p.add_argument("--format", choices=["table", "csv", "json", "segments", "audacity", "jams"], default="table",
                   help="table, csv or json per file; segments: CSV rows file,start,end,instrument,confidence (where "
                        "each instrument plays); audacity (a label track) and jams: one file per input into "
                        "--timelines DIR")
    p.add_argument("--timelines", type=_new_path("--timelines"), help="with --format audacity or jams: the folder "
                                                                      "for one timeline file per input")
    p.add_argument("--plot", type=_new_path("--plot"), help="write an activity-timeline PNG per file into this folder, "
                                                            "named by the file's path below the inputs' common folder")
    p.add_argument("--overwrite", action="store_true", help="replace timeline pictures that are already there")
    p.add_argument("--out", type=Path, help="a library at a time: append one JSON line per file to this file as "
                                            "it finishes (with a progress bar and a closing summary)")
    p.add_argument("--resume", action="store_true", help="with --out: keep its finished lines, skip their files")
    p.add_argument("--jobs", type=COUNT, default=1, help="with --out: files predicted at once, one process each")
    p.add_argument("--shard", help="with --out: K/N, this machine's stable 1/N of the files (e.g. 2/4)")
    p.set_defaults(run=run_predict)


def plot_paths(files: list[Path], folder: Path, suffix: str = ".png") -> dict[Path, Path]:
    """Where each file's timeline goes: its path below the files' common folder, with ``.png`` for its suffix (or,
    if two files would then share a picture, after its whole name), so two inputs never write the same picture."""
    from instrec.library import relative_keys

    keys = relative_keys(files)
    relative = [Path(keys[f]) for f in files]
    stems = [r.with_suffix(suffix) for r in relative]
    if len(set(stems)) < len(stems):  # two files would share a picture: every picture keeps its file's whole name
        stems = [r.with_name(r.name + suffix) for r in relative]
    return {f: folder / s for f, s in zip(files, stems)}


def check_plot_folder(folder: Path, pictures: dict[Path, Path], overwrite: bool, what: str = "timeline pictures",
                      option: str = "--plot") -> None:
    """Before any work: the folder can be written, and no file there is replaced unless asked."""
    import tempfile

    there = [p for p in pictures.values() if p.exists()]
    if there and not overwrite:
        raise InstrecError(f"{there[0]}: already there ({len(there)} of the {len(pictures)} {what}); pass "
                           f"--overwrite to replace them or choose another {option} folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise InstrecError(f"{folder}: cannot write {what} there ({exc.strerror}); choose a folder you can "
                           "write to") from None


def run_predict(args: argparse.Namespace) -> int:
    import csv
    import json

    from instrec.audio import find_audio_files
    from instrec.errors import AudioError
    from instrec.predict import load_model

    from instrec.library import Shard, check_results_file, relative_keys, run_library

    files = find_audio_files(args.paths)
    if not files:
        raise InstrecError(f"{' '.join(map(str, args.paths))}: no audio files found")
    shard = Shard.parse(args.shard) if args.shard else None
    if args.out is None and (args.resume or args.jobs > 1 or shard):
        raise InstrecError("--resume, --jobs and --shard work on a library written to --out FILE.jsonl; add --out")
    if args.out is not None:
        check_results_file(args.out, args.resume)  # before the model loads
    if shard:
        keys = relative_keys(files)
        files = [f for f in files if shard.takes(keys[f])]
    per_file = {"audacity": ".txt", "jams": ".jams"}.get(args.format)
    if per_file and args.timelines is None:
        raise InstrecError(f"--format {args.format} writes one file per input: add --timelines DIR")
    if args.format == "jams":
        try:
            import jams  # noqa: F401
        except ImportError:
            raise InstrecError("--format jams needs the jams library: pip install jams") from None
    timelines = plot_paths(files, args.timelines, per_file) if per_file else {}
    pictures = plot_paths(files, args.plot) if args.plot else {}
    model = load_model(args.model, args.threshold, input_level=args.input_level, floor=args.floor)
    if args.plot:
        check_plot_folder(args.plot, pictures, args.overwrite)
    if per_file:
        check_plot_folder(args.timelines, timelines, args.overwrite, f"{args.format} timelines", "--timelines")
    if args.out is not None:
        summary = run_library(files, {"model": args.model, "threshold": args.threshold, "floor": args.floor,
                                      "input_level": args.input_level}, args.out, args.resume, args.jobs, pictures)
        speed = summary["audio_seconds"] / max(summary["wall_seconds"], 1e-9)
        print(f"{args.out}: {summary['predicted']} files predicted, {summary['done_before']} done before, "
              f"{len(summary['failures'])} failed, of {summary['files']}" + (f" (shard {args.shard})" if shard else "")
              + (f"; {summary['audio_seconds'] / 60:.1f} min of audio in {summary['wall_seconds']:.1f} s, "
                 f"{speed:.0f}x real time" if summary["audio_seconds"] else ""))
        for reason in summary["failures"]:
            print(f"  failed: {reason}")
        return 1 if summary["failures"] else 0
    failed = 0
    writer = csv.writer(sys.stdout) if args.format in ("csv", "segments") else None
    if writer:
        writer.writerow(["file", "instrument", "probability", "present"] if args.format == "csv" else
                        ["file", "start", "end", "instrument", "confidence"])
    for path in files:
        try:
            prediction = model.predict(path)
        except AudioError as exc:
            failed += 1
            print(f"instrec: skipped {exc}", file=sys.stderr)
            continue
        if args.format == "json":
            print(json.dumps(prediction.to_dict()), flush=True)
        elif args.format == "segments":
            from instrec.segments import segments

            for row in segments(prediction):
                writer.writerow([str(path), row["start"], row["end"], row["instrument"], row["confidence"]])
            sys.stdout.flush()
        elif per_file:
            from instrec.io import atomic_write_text
            from instrec.segments import audacity_labels, jams_document

            if args.format == "audacity":
                atomic_write_text(timelines[path], audacity_labels(prediction))
            else:
                atomic_write_text(timelines[path], jams_document(prediction).dumps(indent=1))
            print(f"{path}: {timelines[path]}", flush=True)
        elif writer:
            for c, p, present, trained in zip(prediction.classes, prediction.probs, prediction.present,
                                              prediction.trained):
                writer.writerow([str(path), c, f"{p:.4f}" if trained else "", int(present)])
            sys.stdout.flush()
        else:
            found = ", ".join(f"{c} ({p:.2f})" for c, p in prediction.instruments()) or "no instrument above threshold"
            padded = " (shorter than one 0.96 s example: zero-padded)" if "padded_from_seconds" in prediction.extra else ""
            print(f"{path} [{prediction.duration_seconds:.1f} s]{padded}: {found}", flush=True)
        if args.plot:
            from instrec.plots import activity_timeline

            activity_timeline(prediction, pictures[path])
    if failed:
        print(f"instrec: {failed} of {len(files)} files could not be processed", file=sys.stderr)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    from instrec import __version__

    parser = _Parser(prog="instrec", description="Music instrument recognition toolkit")
    parser.add_argument("--version", action="version", version=f"instrec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_features(sub)
    _add_data(sub)
    _add_soundfonts(sub)
    _add_recordings(sub)
    _add_holdout(sub)
    _add_weights(sub)
    _add_extract(sub)
    _add_train(sub)
    _add_evaluate(sub)
    _add_evaluate_audio(sub)
    _add_pretrain(sub)
    _add_study(sub)
    _add_train_default(sub)
    _add_train_real(sub)
    _add_train_audio(sub)
    _add_predict(sub)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"instrec: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    import warnings

    from instrec.audio import TruncatedAudioWarning

    warnings.simplefilter("always", TruncatedAudioWarning)
    warnings.showwarning = _show_warning
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # usage errors (exit 2, one line), --help and --version (exit 0)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return args.run(args)
    except InstrecError as exc:
        print(f"instrec: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("instrec: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`instrec predict ... | head`): stop quietly, as other tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141


if __name__ == "__main__":
    raise SystemExit(main())
