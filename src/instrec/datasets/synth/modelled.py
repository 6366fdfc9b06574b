"""Instruments no recording reaches, made by a model and played in the real stage as a library is (``Stage.modelled``).

``MODELLED`` names each one: how its sources are made for a stage's seed (``parts.Source`` lists: the mandolin's
physical model, ``mandolin.py``, and a ukulele played by the same model, ``ukulele.py``; the synthesizer's presets,
``synthesizer.py``), the material it needs fetched first (a ``soundfonts.BANKS`` entry) and how that is checked, and
whether the probe gets its whole say on it (a class the base networks never learned: no General MIDI program plays
it). The probe and the gate also learn solo pieces of each (:func:`modelled_pieces`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from instrec.datasets.synth import mandolin
from instrec.errors import InstrecError


@dataclass(frozen=True)
class Modelled:
    sources: Callable[[int], list]  # a stage's seed -> the instrument's parts.Source list
    bank: str = ""  # material fetched as the banks are (soundfonts.BANKS), "" none
    check: Callable[[], object] | None = None  # raises the one-line error a user needs where the material is missing
    whole_say: bool = False  # the probe's whole say (probe.MODELLED_BLEND): the base networks never learned it


def _mandolin(seed: int) -> list:
    return [mandolin.mandolin_source(seed=seed)]


def _ukulele(seed: int) -> list:
    from instrec.datasets.synth.ukulele import ukulele_source

    return [ukulele_source(seed=seed)]


def _synthesizer(seed: int) -> list:
    from instrec.datasets.synth.synthesizer import synthesizer_sources

    return synthesizer_sources(seed=seed)


MODELLED = {"mandolin": Modelled(_mandolin, bank=mandolin.BANK, check=mandolin.read_bodies, whole_say=True),
            "synthesizer": Modelled(_synthesizer),
            # a second ukulele beside the one real library (ukulele.py): the stage learns the library, so no whole say
            "ukulele": Modelled(_ukulele, bank=mandolin.BANK, check=mandolin.read_bodies)}
# the modelled classes the probe gets its whole say on; a modelled class the banks also teach keeps its usual share
WHOLE_SAY = tuple(name for name, m in MODELLED.items() if m.whole_say)
PROBE_PIECES = 60  # solo pieces of each modelled instrument the probe and gate learn (probe.attach's notes)


def check_modelled(names: tuple[str, ...]) -> None:
    """Raise the one-line error a user needs if ``names`` are not modelled instruments or their material is not
    fetched (before any work)."""
    unknown = [n for n in names if n not in MODELLED]
    if unknown:
        raise InstrecError(f"modelled instrument {unknown[0]!r}: use one of {', '.join(MODELLED)}")
    for name in names:
        if MODELLED[name].check is not None:
            MODELLED[name].check()


def modelled_sources(names: tuple[str, ...], seed: int) -> list:
    """The modelled sources ``names`` (``MODELLED``) for a stage of ``seed``."""
    check_modelled(names)
    return [source for name in names for source in MODELLED[name].sources(seed)]


def solo_pieces(source, rng: np.random.Generator, count: int, seconds: float = 10.0) -> list[np.ndarray]:
    """``count`` solo pieces of ``source`` (``parts.play_part``: tremolo, melody, strum, one-shots), each sent through
    its own draw of the recording chain."""
    from instrec.datasets.synth.parts import SAMPLE_RATE, play_part
    from instrec.datasets.synth.recording import apply_chain, draw_chain

    return [apply_chain(play_part(source, rng, seconds)[0], SAMPLE_RATE, draw_chain(rng)) for _ in range(count)]


def modelled_pieces(names: tuple[str, ...], seed: int, count: int | None = None) -> list[tuple[np.ndarray, int, str]]:
    """``count`` solo pieces of 10 s of each modelled instrument, played from the stage's own notes (the sources of
    ``seed``) as parts are and sent through the recording chain (:func:`solo_pieces`): (samples, rate, class), as
    ``probe.attach`` takes recorded notes."""
    from instrec.datasets.synth.parts import SAMPLE_RATE, draw_source

    pieces = []
    for name in names:
        sources = modelled_sources((name,), seed)
        rng = np.random.default_rng([seed, 3301])
        if len(sources) == 1:  # one source: its pieces as they were drawn before several sources were possible
            pieces += [(a.astype(np.float32), SAMPLE_RATE, name)
                       for a in solo_pieces(sources[0], rng, count or PROBE_PIECES)]
        else:  # several (a synthesizer's presets): each piece from one, drawn
            pieces += [(solo_pieces(draw_source(sources, rng), rng, 1)[0].astype(np.float32), SAMPLE_RATE, name)
                       for _ in range(count or PROBE_PIECES)]
    return pieces
