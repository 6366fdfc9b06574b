"""A library at a time: ``predict DIR --out results.jsonl`` writes one JSON line per file as it finishes.

- ``--resume`` keeps the lines already there (a line cut short by a kill is dropped, and so are failures, which are
  tried again) and skips their files; without it an existing results file is never appended to.
- ``--jobs N`` predicts N files at once, each in its own process (one thread each), in bounded memory: only the
  files in flight are held.
- ``--shard K/N`` takes the files whose path below the inputs' common folder hashes to K of N, so N machines (or N
  array tasks) split a library with no coordination, whatever folder each mounts it at; ``cat`` joins the parts.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from instrec.errors import InstrecError


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        try:
            k, n = (int(part) for part in text.split("/"))
        except ValueError:
            raise InstrecError(f"--shard {text}: give K/N, e.g. 1/4 for the first of four parts") from None
        if not 1 <= k <= n:
            raise InstrecError(f"--shard {text}: K must be from 1 to N (the parts are 1/{max(n, 1)} ... "
                               f"{max(n, 1)}/{max(n, 1)})")
        return cls(k, n)

    def takes(self, key: str) -> bool:
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1


def relative_keys(files: list[Path]) -> dict[Path, str]:
    """Each file's path below the files' common folder (as text with /): the same on every machine."""
    resolved = {f: f.resolve() for f in files}
    root = Path(os.path.commonpath([r.parent for r in resolved.values()])) if files else Path(".")
    return {f: r.relative_to(root).as_posix() for f, r in resolved.items()}


def check_results_file(out: Path, resume: bool) -> None:
    """A results file is only ever continued, and only when asked; never a folder."""
    if out.is_dir():
        raise InstrecError(f"--out {out}: is a folder; give the .jsonl file to write")
    if out.exists() and not resume:
        raise InstrecError(f"--out {out}: already there; pass --resume to continue it, or choose another file")


def read_done(out: Path) -> set[str]:
    """The files a results file already holds a prediction for. Lines cut short (a kill mid-write), lines that are
    not JSON and failures are dropped from the file (rewritten atomically), so a resumed run adds each file once."""
    from instrec.io import atomic_write_text

    raw = out.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    keep, done = [], set()
    for line in text.split("\n")[:-1]:  # the part after the last newline never finished
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "probabilities" in record and isinstance(record.get("file"), str) \
                and record["file"] not in done:
            done.add(record["file"])
            keep.append(line)
    cleaned = "".join(line + "\n" for line in keep)
    if cleaned.encode() != raw:
        atomic_write_text(out, cleaned)
    return done


_MODEL = None


def _load(model_args: dict, worker: bool = True) -> None:
    """The model that predicts: in a worker with one thread (the jobs are the parallelism), in this process as
    it is."""
    global _MODEL
    import torch

    from instrec.predict import load_model

    if worker:
        torch.set_num_threads(1)
    _MODEL = load_model(**model_args)


def _predict(task: tuple[str, str | None]) -> tuple[str, dict | None, str | None, float]:
    """(file, record, error, seconds of audio) for one file, in a worker or in this process."""
    from instrec.errors import AudioError

    path, picture = task
    try:
        prediction = _MODEL.predict(path)
    except AudioError as exc:
        return path, None, str(exc), 0.0
    if picture:
        from instrec.plots import activity_timeline

        activity_timeline(prediction, Path(picture))
    return path, prediction.to_dict(), None, prediction.duration_seconds


def run_library(files: list[Path], model_args: dict, out: Path, resume: bool = False, jobs: int = 1,
                pictures: dict[Path, Path] | None = None, progress: bool = True) -> dict:
    """Predict every file not yet in ``out`` (a shard's files: :class:`Shard`), appending a line per file as it
    finishes; returns the summary (files, done before, predicted, failures with their reasons, seconds of audio,
    wall seconds)."""
    from tqdm import tqdm

    check_results_file(out, resume)
    done = read_done(out) if out.exists() else set()
    todo = [f for f in files if str(f) not in done]
    tasks = [(str(f), str((pictures or {}).get(f)) if pictures and f in pictures else None) for f in todo]
    out.parent.mkdir(parents=True, exist_ok=True)
    failures, audio, started = [], 0.0, time.perf_counter()
    with open(out, "a", encoding="utf-8") as sink, tqdm(total=len(tasks), unit="file", disable=not progress,
                                                         desc="predict", file=sys.stderr) as bar:
        def record(result):
            nonlocal audio
            path, row, error, seconds = result
            if error is not None:
                failures.append(error)
                bar.write(f"instrec: skipped {error}", file=sys.stderr)
            else:
                sink.write(json.dumps(row) + "\n")
                sink.flush()  # a whole line at a time: a kill leaves at most one cut line, dropped on --resume
                audio += seconds
            bar.update(1)

        if jobs <= 1:
            _load(model_args, worker=False)
            for task in tasks:
                record(_predict(task))
        else:
            import multiprocessing as mp
            from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

            pending, queue = set(), iter(tasks)
            with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_load,
                                     initargs=(model_args,)) as pool:
                while True:  # at most 2 files a job in flight: memory stays bounded on any library
                    for task in queue:
                        pending.add(pool.submit(_predict, task))
                        if len(pending) >= 2 * jobs:
                            break
                    if not pending:
                        break
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        record(future.result())
    wall = time.perf_counter() - started
    return {"files": len(files), "done_before": len(files) - len(todo), "predicted": len(todo) - len(failures),
            "failures": failures, "audio_seconds": audio, "wall_seconds": wall}

