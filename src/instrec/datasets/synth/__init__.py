"""Datasets rendered from SoundFonts in the real OpenMIC, NSynth and Freesound on-disk formats."""

from __future__ import annotations

from pathlib import Path


def synth_dataset(kind: str, out_dir: str | Path, size: int, soundfonts=None, seed: int = 0,
                  workers: int | None = None, **options) -> Path:
    """Render ``size`` items of ``kind`` (openmic | nsynth | freesound) into ``out_dir``.

    ``options``: ``hold_out_bank`` (every kind); ``labels``, ``recording``, ``arrangements`` (openmic);
    ``recording`` (freesound).
    """
    if kind == "openmic":
        from instrec.datasets.synth.openmic import synth_openmic as make
    elif kind == "nsynth":
        from instrec.datasets.synth.nsynth import synth_nsynth as make
    elif kind == "freesound":
        from instrec.datasets.synth.freesound import synth_freesound as make
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return make(out_dir, size=size, soundfonts=soundfonts, seed=seed, workers=workers, **options)
