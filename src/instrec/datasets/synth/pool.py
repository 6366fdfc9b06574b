"""Render many items in worker processes; results in input order.

The SoundFonts are loaded once, in the calling process: forked workers share that synthesizer's
memory (the real-sample banks take seconds and gigabytes to load). Where fork is not available,
each spawned worker loads them again.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from typing import Any, Callable

from tqdm import tqdm

from instrec.datasets.synth.render import Renderer

_RENDERER: Renderer | None = None


def _init(soundfonts, sample_rate) -> None:
    global _RENDERER
    if soundfonts is not None:
        _RENDERER = Renderer(soundfonts, sample_rate)


def _call(args):
    fn, item = args
    return fn(_RENDERER, item)


def render_all(fn: Callable[[Renderer, Any], Any], items: list, renderer: Renderer,
               workers: int | None = None, desc: str = "rendering") -> list:
    """``fn(renderer, item)`` for every item; each item must carry its own seed for determinism."""
    global _RENDERER
    workers = workers or min(len(os.sched_getaffinity(0)), 8)
    _RENDERER = renderer
    if workers <= 1 or len(items) < 8:
        return [_call((fn, item)) for item in tqdm(items, desc=desc, unit="item")]
    forking = "fork" in mp.get_all_start_methods()
    ctx = mp.get_context("fork" if forking else "spawn")
    initargs = (None, None) if forking else ([str(p) for p in renderer.paths], renderer.sample_rate)
    with ctx.Pool(workers, initializer=_init, initargs=initargs) as pool:
        jobs = pool.imap(_call, [(fn, item) for item in items], chunksize=4)
        return list(tqdm(jobs, total=len(items), desc=desc, unit="item"))
