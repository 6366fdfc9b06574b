"""A library at a time: `predict DIR --out results.jsonl` on many files with `--jobs 2` against `--jobs 1`, in one run.

The library is --files links to the 29 recordings of tests/fixtures/real-dev (0.5-71 s each, so decoding is from
the page cache), predicted with the shipped model into a fresh results file each time. Prints files per second,
the real-time factor, the ratio of the two, and the peak memory (resident set) of this process and of the worker
processes: with 1,000 and 10,000 files it shows whether memory stays bounded. `--jobs 1` runs in this process with
the default threads; `--jobs N` runs N processes of one thread each (their start-up, about a second, is counted).

    python benchmarks/bench_library.py [--files 1000] [--jobs 2]
"""

import argparse
import resource
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
            (folder / f"{i:05d}{source.suffix}").symlink_to(source.resolve())
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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak resident memory: this process (--jobs 1) {peak:.0f} MB, the largest worker {workers:.0f} MB")


if __name__ == "__main__":
    main()
