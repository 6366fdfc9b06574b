"""Figures like the paper's Fig. 2 and 3: per-class F1-macro bars and the overall box plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def per_class_bars(rows: list[dict], classes: list[str], path: Path, title: str) -> Path:
    """Grouped bars: per class, one bar per row (mean over seeds, std as error bar)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(14, 4.5))
    width = 0.8 / max(1, len(rows))
    x = np.arange(len(classes))
    for i, row in enumerate(rows):
        mean = [row["per_class"][c]["mean"] if row["per_class"][c]["mean"] is not None else np.nan for c in classes]
        std = [row["per_class"][c]["std"] or 0.0 for c in classes]
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, mean, width, yerr=std, label=row["label"], capsize=1.5)
    ax.set_xticks(x, [c.replace("_percussion", "") for c in classes], rotation=45, ha="right")
    ax.set_ylabel("F1-macro")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(ncol=min(4, len(rows)), fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def overall_boxes(rows: list[dict], classes: list[str], path: Path, title: str) -> Path:
    """One box per row: the distribution of its per-class F1-macro (mean over seeds); the dot marks the mean."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(rows), 4.5))
    data = [[row["per_class"][c]["mean"] for c in classes if row["per_class"][c]["mean"] is not None] for row in rows]
    ax.boxplot(data, showmeans=True)
    ax.set_xticks(range(1, len(rows) + 1), [row["label"] for row in rows], rotation=20, ha="right")
    ax.set_ylabel("F1-macro per class")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def activity_timeline(prediction, path: Path) -> Path:
    """The waveform's peak envelope above a heat map of each instrument's probability per 0.96 s step, on a
    fixed [0, 1] scale: trained classes first, most probable in the file at the top; silent steps hatched."""
    plt = _pyplot()
    envelope = prediction.extra.get("envelope", np.zeros(0))
    steps = prediction.activity.shape[0]
    order = sorted(range(len(prediction.classes)), key=lambda i: (not prediction.trained[i], -prediction.probs[i]))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8, min(24, steps * 0.25)), 7), sharex=True,
                                      gridspec_kw={"height_ratios": [1, 4]})
    t = np.arange(envelope.size) * 0.01
    top.fill_between(t, -envelope, envelope, color="0.3", linewidth=0)
    top.set_ylabel("waveform")
    top.set_yticks([])
    top.set_title(f"{Path(prediction.source).name}: " + (", ".join(c for c, _ in prediction.instruments()) or "no instrument above threshold"))
    extent = (0, steps * prediction.step_seconds, len(order) - 0.5, -0.5)
    shown = np.ma.masked_array(prediction.activity[:, order].T, np.zeros((len(order), steps), bool))
    shown.mask[[k for k, i in enumerate(order) if not prediction.trained[i]]] = True
    image = bottom.imshow(shown, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=1, extent=extent)
    for step in np.flatnonzero(prediction.extra.get("silent", np.zeros(0, bool))):
        bottom.axvspan(step * prediction.step_seconds, (step + 1) * prediction.step_seconds, facecolor="none",
                       edgecolor="0.6", hatch="//", linewidth=0)
    labels = [(f"{prediction.classes[i]} {prediction.probs[i]:.2f}" + (" *" if prediction.present[i] else ""))
              if prediction.trained[i] else f"{prediction.classes[i]} (not trained)" for i in order]
    bottom.set_yticks(range(len(labels)), labels, fontsize=8)
    bottom.set_xlabel("time (s)   (* present in the file; hatched: silent, ignored)")
    fig.colorbar(image, ax=bottom, label="probability in this 0.96 s step", fraction=0.03)
    fig.tight_layout()
    from instrec.io import atomic_path

    with atomic_path(path) as tmp:  # a picture is whole or not there
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path
