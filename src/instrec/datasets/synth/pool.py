"""Render many items in worker processes; results in input order.

With ``resume_in`` (the dataset folder), each finished item's result is written to its ``render-cache/``
(atomically, after its audio) with a fingerprint of its job and the SoundFonts; a rerun after an interruption takes those results instead of
rendering again, so a 10,000-clip rendering stopped at clip 9,000 resumes at 9,000 with the same output.

The SoundFonts are loaded once, in the calling process: forked workers share that synthesizer's
memory (the real-sample banks take seconds and gigabytes to load). Where fork is not available,
each spawned worker loads them again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing as mp
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from instrec.datasets.synth.render import Renderer
from instrec.io import atomic_write_json

_RENDERER: Renderer | None = None
RENDER_CACHE = "render-cache"  # the folder of finished items inside a dataset being rendered


def _init(soundfonts, sample_rate) -> None:
    global _RENDERER
    if soundfonts is not None:
        _RENDERER = Renderer(soundfonts, sample_rate)


def _call(args):
    fn, item, cached = args
    if cached is None:
        return fn(_RENDERER, item)
    path, fingerprint = cached
    try:
        stored = json.loads(path.read_text())
        if stored["fingerprint"] == fingerprint:
            return stored["result"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not rendered yet, or written by another job: render
    result = fn(_RENDERER, item)
    atomic_write_json(path, {"fingerprint": fingerprint, "result": result})
    return result


def _fingerprint(fn: Callable, item: Any, renderer: Renderer) -> str:
    job = {k: v for k, v in dataclasses.asdict(item).items() if k not in ("out_dir", "write")}
    text = json.dumps([fn.__qualname__, job, [p.name for p in renderer.paths], renderer.sample_rate],
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def render_all(fn: Callable[[Renderer, Any], Any], items: list, renderer: Renderer,
               workers: int | None = None, desc: str = "rendering", resume_in: Path | None = None) -> list:
    """``fn(renderer, item)`` for every item; each item must carry its own seed (and, with ``resume_in``,
    its ``index``) for determinism."""
    global _RENDERER
    workers = workers or min(len(os.sched_getaffinity(0)), 8)
    _RENDERER = renderer
    cache = None if resume_in is None else Path(resume_in) / RENDER_CACHE
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    calls = [(fn, item, None if cache is None or not getattr(item, "write", True) else
              (cache / f"{item.index:06d}.json", _fingerprint(fn, item, renderer))) for item in items]
    if workers <= 1 or len(items) < 8:
        return [_call(call) for call in tqdm(calls, desc=desc, unit="item")]
    forking = "fork" in mp.get_all_start_methods()
    ctx = mp.get_context("fork" if forking else "spawn")
    initargs = (None, None) if forking else ([str(p) for p in renderer.paths], renderer.sample_rate)
    with ctx.Pool(workers, initializer=_init, initargs=initargs) as pool:
        jobs = pool.imap(_call, calls, chunksize=4)
        return list(tqdm(jobs, total=len(items), desc=desc, unit="item"))


def drop_cache(dataset_dir: Path) -> None:
    """Remove the per-item results of ``render_all(resume_in=dataset_dir)`` once the dataset's own files hold them."""
    shutil.rmtree(Path(dataset_dir) / RENDER_CACHE, ignore_errors=True)
