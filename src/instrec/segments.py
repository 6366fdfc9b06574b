"""Timelines out: where each instrument plays, as segments, and in the formats other tools read.

A class's per-step probabilities (``Prediction.activity``, one value per 0.96 s step) become segments by a fixed
rule (``SegmentRule``): a segment starts at a step at or above ``on`` and goes on while the steps stay at or above
``off`` (hysteresis: ``off`` <= ``on``); segments separated by at most ``merge_gap`` steps are joined; segments
shorter than ``min_steps`` are dropped. Silent steps are below every threshold. Untrained classes give none. The
rule's settings were chosen by measurement (scripts/segment_rule.py, docs/experiments/2026-12-05-segment-rule.md).

Formats: ``segments`` (CSV rows file, start, end, instrument, confidence: Sonic Visualiser imports it as a region
layer, spreadsheets read it), ``audacity`` (a label track: start, end, label, tab-separated) and ``jams`` (written
with the ``jams`` library: one ``tag_open`` annotation per instrument, each segment an observation with its
confidence).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SegmentRule:
    on: float = 0.3  # chosen by measurement: docs/experiments/2026-12-05-segment-rule.md
    off: float = 0.2
    min_steps: int = 3
    merge_gap: int = 2


SEGMENT_RULE = SegmentRule()


def class_segments(values: np.ndarray, rule: SegmentRule = SEGMENT_RULE) -> list[tuple[int, int]]:
    """[start, end) step ranges of one class's per-step probabilities under ``rule``."""
    spans, start = [], None
    for i, v in enumerate(values):
        if start is None and v >= rule.on:
            start = i
        elif start is not None and v < rule.off:
            spans.append([start, i])
            start = None
    if start is not None:
        spans.append([start, len(values)])
    merged: list[list[int]] = []
    for span in spans:
        if merged and span[0] - merged[-1][1] <= rule.merge_gap:
            merged[-1][1] = span[1]
        else:
            merged.append(span)
    return [(a, b) for a, b in merged if b - a >= rule.min_steps]


def segments(prediction, rule: SegmentRule = SEGMENT_RULE) -> list[dict]:
    """Every instrument's segments in a prediction: start and end in seconds, instrument, confidence (the mean
    probability over the segment's steps), in order of start."""
    step = prediction.step_seconds
    end_of_file = prediction.duration_seconds or prediction.activity.shape[0] * step
    rows = []
    for c, name in enumerate(prediction.classes):
        if not prediction.trained[c]:
            continue
        for a, b in class_segments(prediction.activity[:, c], rule):
            rows.append({"start": round(a * step, 3), "end": round(min(b * step, end_of_file), 3), "instrument": name,
                         "confidence": round(float(prediction.activity[a:b, c].mean()), 4)})
    return sorted(rows, key=lambda r: (r["start"], r["instrument"]))


def audacity_labels(prediction, rule: SegmentRule = SEGMENT_RULE) -> str:
    """An Audacity label track (File > Import > Labels): start, end and label, tab-separated."""
    return "".join(f"{r['start']:.3f}\t{r['end']:.3f}\t{r['instrument']} ({r['confidence']:.2f})\n"
                   for r in segments(prediction, rule))


def jams_document(prediction, rule: SegmentRule = SEGMENT_RULE):
    """A JAMS document (``jams.JAMS``): the file's duration, and per instrument an annotation of namespace
    ``tag_open`` whose observations are its segments, each with its confidence."""
    import jams

    from instrec import __version__

    document = jams.JAMS()
    document.file_metadata.duration = float(prediction.duration_seconds or prediction.activity.shape[0] *
                                            prediction.step_seconds)
    document.file_metadata.title = str(prediction.source)
    rows = segments(prediction, rule)
    for name in sorted({r["instrument"] for r in rows}):
        annotation = jams.Annotation(namespace="tag_open", duration=document.file_metadata.duration)
        annotation.annotation_metadata.annotation_tools = f"instrec {__version__}"
        annotation.annotation_metadata.data_source = "instrec predict (automatic)"
        annotation.sandbox.update(instrument=name, rule=rule.__dict__)
        for r in rows:
            if r["instrument"] == name:
                annotation.append(time=r["start"], duration=round(r["end"] - r["start"], 3), value=name,
                                  confidence=r["confidence"])
        document.annotations.append(annotation)
    return document
