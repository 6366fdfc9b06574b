"""The ``instrec`` command line: argparse subcommands that parse, then call library functions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from instrec.errors import InstrecError


def _add_features(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("features", help="compute a representation of one audio file and save it as .npy")
    p.add_argument("audio", type=Path, help="audio file (wav, flac, ogg, mp3...)")
    p.add_argument("--representation", default="logmel", help="representation name (default: logmel)")
    p.add_argument("--out", type=Path, required=True, help="output .npy path")
    p.add_argument("--hop-frames", type=int, default=96, help="example hop in 10 ms frames (default 96 = 0.96 s)")
    p.add_argument("--peak-normalize", action="store_true", help="scale to peak 1 first (as the OpenMIC features)")
    p.set_defaults(run=run_features)


def run_features(args: argparse.Namespace) -> int:
    import numpy as np

    from instrec.audio import load_audio
    from instrec.frontend import waveform_to_examples
    from instrec.io import atomic_save_npy

    if args.representation != "logmel":
        raise InstrecError(f"unknown representation {args.representation!r}; available: logmel")
    samples = load_audio(args.audio, peak_normalize=args.peak_normalize)
    examples = waveform_to_examples(samples, hop_frames=args.hop_frames).astype(np.float32)
    atomic_save_npy(args.out, examples)
    print(f"{args.out}: {examples.shape} {examples.dtype}")
    return 0


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="datasets: render the embedded default data")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    synth = data_sub.add_parser("synth", help="render a small dataset from SoundFonts in a real dataset's format")
    synth.add_argument("--kind", choices=["openmic", "nsynth", "freesound"], required=True)
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.add_argument("--size", type=int, default=None, help="clips / notes / sounds (default 400 / 1200 / 1000)")
    synth.add_argument("--soundfont", type=Path, action="append", default=None,
                       help=".sf2/.sf3 file; repeat to mix timbres (default: TimGM6mb from pretty_midi)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--workers", type=int, default=None, help="render processes (default: all cores)")
    synth.set_defaults(run=run_data_synth)


DEFAULT_SYNTH_SIZES = {"openmic": 400, "nsynth": 1200, "freesound": 1000}


def run_data_synth(args: argparse.Namespace) -> int:
    from instrec.datasets.synth import synth_dataset

    size = args.size or DEFAULT_SYNTH_SIZES[args.kind]
    out = synth_dataset(args.kind, args.out, size=size, soundfonts=args.soundfont, seed=args.seed, workers=args.workers)
    print(f"{out}: rendered {size} {args.kind} items")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from instrec import __version__

    parser = argparse.ArgumentParser(prog="instrec", description="Music instrument recognition toolkit")
    parser.add_argument("--version", action="version", version=f"instrec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_features(sub)
    _add_data(sub)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return args.run(args)
    except InstrecError as exc:
        print(f"instrec: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("instrec: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
