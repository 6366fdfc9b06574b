"""A library at a time: `predict DIR --out results.jsonl` on many files with `--jobs 2` against `--jobs 1`, in one run.

The library is --files copies of the 29 recordings of tests/fixtures/real-dev (0.5-71 s each; copies, so decoding
is from the page cache), predicted with the shipped model into a fresh results file each time. Prints files per
second, the real-time factor and the ratio of the two. `--jobs 1` runs in this process with the default threads;
`--jobs N` runs N processes of one thread each (their start-up, about a second, is counted).

    python benchmarks/bench_library.py [--files 1000] [--jobs 2]
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from instrec.audio import find_audio_files
from instrec.library import run_library

REAL_DEV = Path(__file__).parent.parent / "tests" / "fixtures" / "real-dev"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(2)
    sources = sorted(p for p in REAL_DEV.iterdir() if p.suffix in (".wav", ".ogg", ".flac", ".mp3"))
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "lib"
        for i in range(args.files):
            source = sources[i % len(sources)]
            folder = lib / f"{i // 100:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, folder / f"{i:05d}{source.suffix}")
        files = find_audio_files([lib])
        results = {}
        for jobs in (1, args.jobs):
            out = Path(tmp) / f"jobs{jobs}.jsonl"
            started = time.perf_counter()
            summary = run_library(files, {"model": None, "threshold": None, "input_level": None}, out, jobs=jobs,
                                  progress=False)
            wall = time.perf_counter() - started
            results[jobs] = wall
            print(f"--jobs {jobs}: {len(files)} files ({summary['audio_seconds'] / 3600:.2f} h of audio) in "
                  f"{wall:.1f} s: {len(files) / wall:.1f} files/s, {summary['audio_seconds'] / wall:.0f}x real time; "
                  f"{len(summary['failures'])} failed")
    print(f"--jobs {args.jobs} / --jobs 1 throughput: {results[1] / results[args.jobs]:.2f}x")


if __name__ == "__main__":
    main()
