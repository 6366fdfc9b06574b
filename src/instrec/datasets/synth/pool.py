"""Render many items in worker processes, each with its own synthesizer; results in input order."""

from __future__ import annotations

import multiprocessing as mp
import os
from typing import Any, Callable

from tqdm import tqdm

from instrec.datasets.synth.render import Renderer

_RENDERER: Renderer | None = None


def _init(soundfonts, sample_rate) -> None:
    global _RENDERER
    _RENDERER = Renderer(soundfonts, sample_rate)


def _call(args):
    fn, item = args
    return fn(_RENDERER, item)


def render_all(fn: Callable[[Renderer, Any], Any], items: list, soundfonts, sample_rate: int,
               workers: int | None = None, desc: str = "rendering") -> list:
    """``fn(renderer, item)`` for every item; each item must carry its own seed for determinism."""
    workers = workers or min(len(os.sched_getaffinity(0)), 8)
    if workers <= 1 or len(items) < 8:
        _init(soundfonts, sample_rate)
        return [_call((fn, item)) for item in tqdm(items, desc=desc, unit="item")]
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers, initializer=_init, initargs=(soundfonts, sample_rate)) as pool:
        jobs = pool.imap(_call, [(fn, item) for item in items], chunksize=4)
        return list(tqdm(jobs, total=len(items), desc=desc, unit="item"))
