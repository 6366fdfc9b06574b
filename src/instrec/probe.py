"""A linear probe on real recordings, averaged with the network's own head.

After the real-recording stage, the model reads every real recording of its training libraries as ``predict``
reads a file (stretches of sound, windows of up to 10 examples); a window's embedding is the mean of its heard
examples' embeddings (every member's, concatenated). One logistic regression per class (standardised embeddings,
balanced class weights, C = 1) learns on these windows and on the stage's no-instrument clips (tones, sweeps, hum,
noise, applause: every class absent). The exported model (:class:`instrec.convnet.Probed`) gives each class
``(1 - BLEND) * head + BLEND * probe``, a class without a recording keeping the head's answer.

Measured (docs/experiments/2026-12-05-real-probe.md), a setting, not the recipe's default: on real libraries held
out of both (source folds) the blend scores F1 0.710, mAP 0.603, top-1 0.669 against 0.645 / 0.556 / 0.395 for the
stage model alone, but on instruments it has no real recording of it costs more than it gives (held-out csound F1
0.755 against 0.841; real-dev 0.667 against 0.713): the probe never heard a flute or a violin as a negative. Trained
on the stage's rendered clips as well, it loses mAP on the folds. ``instrec train-default --probe`` adds it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

BLEND = 0.5  # the probe's share of a class's probability (measured at this value only)
C = 1.0  # the logistic regressions' inverse regularisation strength
MIXTURE_SECONDS = 10.0  # a longer recording enters a mixture as a random stretch of this length
MIXTURE_GAIN_DB = (-9.0, 0.0)  # each part's gain in a mixture


def pooled(head, part: torch.Tensor, pooling: str) -> tuple[np.ndarray, np.ndarray]:
    """The head's probabilities for ``part`` (1, T, D) and what the probe reads of it: the mean of its examples'
    embeddings (D,) (``pooling="mean"``), or per class their mean weighted by the head's own attention for that
    class (C, D) (``"attention"``)."""
    out = head(part)
    if pooling == "attention":
        return out["probs"][0].numpy(), torch.einsum("tc,td->cd", out["attention"][0], part[0]).numpy()
    return out["probs"][0].numpy(), part[0].mean(dim=0).numpy()


def recording_windows(model, source, sample_rate: int | None = None, pooling: str = "mean") -> dict:
    """A recording as ``predict`` reads it (``model`` a predict.Model): per window, what the probe reads of it
    ``emb`` (:func:`pooled`), the model's own probabilities ``probs``, its heard examples ``lengths`` and its
    phase."""
    from instrec.predict import window_parts

    reading = model.read(source, sample_rate)
    with torch.inference_mode():
        seq, head, per = model._head_sequence(reading.steps)
        emb, probs, lengths, phases = [], [], [], []
        for phase, length, part in window_parts(seq.view(-1, per, seq.shape[-1]), reading.silent, reading.placed):
            p, e = pooled(head, part, pooling)
            probs.append(p)
            emb.append(e)
            lengths.append(length)
            phases.append(phase)
    return {"emb": np.stack(emb), "probs": np.stack(probs), "lengths": np.array(lengths, float),
            "phases": np.array(phases)}


def clip_embeddings(model, raw: np.ndarray, pooling: str = "mean") -> np.ndarray:
    """Clips of raw log-mel (N, 10 x 96, 64), as the real stage caches them, read as ``predict`` would: what the
    probe reads (:func:`pooled`) of each clip's heard examples, (N, D) or (N, C, D)."""
    from instrec import params as P
    from instrec.predict import MIN_SOUNDING_FRAMES, SILENCE_LOGMEL
    from instrec.representations.postprocess import normalize_min_max

    out = []
    with torch.inference_mode():
        head = model.classifier.head
        for i in range(0, len(raw), 64):
            x = torch.from_numpy(raw[i:i + 64].astype(np.float32))
            ex = x.view(len(x), -1, P.EXAMPLE_FRAMES, x.shape[-1])
            heard = (ex.amax(dim=3) >= SILENCE_LOGMEL).sum(dim=2) >= MIN_SOUNDING_FRAMES
            heard[heard.sum(dim=1) == 0] = True  # a clip silent throughout: all its examples
            emb = model.classifier.embed(torch.from_numpy(normalize_min_max(x.numpy(), model.norm_stats)))
            out += [pooled(head, e[h][None], pooling)[1] for e, h in zip(emb, heard)]
    return np.stack(out) if out else np.zeros((0, 0), np.float32)


def fit(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None, balanced: bool = True, c: float = C):
    """Per class a logistic regression on standardised ``x`` (n, D), or on its own column ``x[:, k]`` of (n, C, D),
    for labels ``y`` (n, C) (rows where ``mask``): (weight (C, D), bias (C,), learned (C,) bool), the
    standardisation folded into the weights. A class without both a positive and a negative row is not learned
    (weight and bias 0)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    mask = np.ones_like(y, bool) if mask is None else mask.astype(bool)
    weight = np.zeros((y.shape[1], x.shape[-1]), np.float64)
    bias = np.zeros(y.shape[1], np.float64)
    learned = np.zeros(y.shape[1], bool)
    scaler = None if x.ndim == 3 else StandardScaler().fit(x)
    for k in range(y.shape[1]):
        target = y[mask[:, k], k] >= 0.5
        if target.all() or not target.any():
            continue
        xk = x[:, k] if x.ndim == 3 else x
        sk = StandardScaler().fit(xk[mask[:, k]]) if scaler is None else scaler
        lr = LogisticRegression(C=c, class_weight="balanced" if balanced else None, max_iter=2000)
        lr.fit(sk.transform(xk[mask[:, k]]), target)
        weight[k] = lr.coef_[0] / sk.scale_
        bias[k] = lr.intercept_[0] - float((lr.coef_[0] * sk.mean_ / sk.scale_).sum())
        learned[k] = True
    return weight, bias, learned


def probe_probs(weight: np.ndarray, bias: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The probe's probabilities (n, C) for ``x`` (n, D), or (n, C, D) read per class."""
    logits = np.einsum("ncd,cd->nc", x, weight) if x.ndim == 3 else x @ weight.T
    return 1.0 / (1.0 + np.exp(-(logits + bias)))


def bank_notes(bank: str = "tonejs") -> list[tuple[np.ndarray, int, str]]:
    """Every recorded note of a sample-set bank (``soundfonts`` kind ``npm``: real single notes, as the recipe
    plays them) as (mono float32 samples, rate, class): each preset's class is that of its General MIDI program
    (``classes.GM_PROGRAMS``); a preset of no class is left out."""
    from instrec.datasets.classes import GM_PROGRAMS
    from instrec.datasets.synth.samplebank import read_sf2
    from instrec.datasets.synth.soundfonts import locate
    from instrec.errors import InstrecError

    path = locate(bank)
    if path is None:
        raise InstrecError(f"bank {bank!r} is not fetched; run: instrec soundfonts fetch {bank}")
    of_program = {program: name for name, programs in GM_PROGRAMS.items() for program in programs}
    return [(zone.samples.astype(np.float32) / 32768.0, zone.sample_rate, of_program[preset.program])
            for preset in read_sf2(path) if preset.bank == 0 and preset.program in of_program
            for zone in preset.zones]


def mixtures(sources: list[tuple[np.ndarray, str]], n: int, seed: int = 0):
    """``n`` mixtures of the mono 16 kHz ``sources`` (samples, class), one at a time, as (samples, classes): two
    (60%) or three (40%) parts of different classes (a class drawn uniformly, then one of its sources), each at a
    gain of -9 to 0 dB, a part longer than 10 s cut to a random 10 s, a shorter part at a random place inside the
    longest. What the probe hears of instruments playing together."""
    from instrec import params as P

    rng = np.random.default_rng(seed)
    by_class: dict[str, list[np.ndarray]] = {}
    for samples, label in sources:
        if samples.size:
            by_class.setdefault(label, []).append(samples)
    names = sorted(by_class)
    longest = int(MIXTURE_SECONDS * P.SAMPLE_RATE)
    for _ in range(n if len(names) >= 2 else 0):
        picked = rng.choice(names, size=min(len(names), 2 if rng.random() < 0.6 else 3), replace=False)
        parts = []
        for name in picked:
            samples = by_class[name][rng.integers(len(by_class[name]))]
            if samples.size > longest:
                start = int(rng.integers(samples.size - longest + 1))
                samples = samples[start:start + longest]
            parts.append(samples * np.float32(10 ** (rng.uniform(*MIXTURE_GAIN_DB) / 20)))
        mix = np.zeros(max(part.size for part in parts), np.float32)
        for part in parts:
            start = int(rng.integers(mix.size - part.size + 1))
            mix[start:start + part.size] += part
        peak = float(np.abs(mix).max())
        yield (mix / peak if peak > 1.0 else mix), [str(name) for name in picked]


def training_recordings(root: Path | None, hold_out: tuple[str, ...]) -> list[tuple[Path, str]]:
    """(path, class) of the real recordings the probe learns from: those the real stage may use
    (``real_stage.training_recordings``)."""
    from instrec import real_stage

    return [(path, r.label) for r, path in real_stage.training_recordings(root, hold_out)]


def attach(stage_model: str | Path, out: str | Path, items: list[tuple[Path, str]], negatives: np.ndarray,
           about: dict | None = None, log=None, notes: list[tuple[np.ndarray, int, str]] = (),
           mixed: int = 0, seed: int = 0, clip_labels: tuple[np.ndarray, np.ndarray] | None = None,
           pooling: str = "mean") -> Path:
    """Fit the probe on ``items`` (path, class), the recorded ``notes`` (samples, rate, class; see
    :func:`bank_notes`), ``mixed`` :func:`mixtures` of both and the raw log-mel no-instrument clips ``negatives``,
    read by the exported model ``stage_model``; export the :class:`Probed` model to ``out``. With ``clip_labels``
    (labels, mask), ``negatives`` are any labelled clips (the stage's own), not only no-instrument ones.
    ``pooling``: what the probe reads of a window (:func:`pooled`)."""
    from instrec import params as P
    from instrec.audio import load_audio, resample
    from instrec.bundle import export_model
    from instrec.convnet import Probed
    from instrec.errors import AudioError
    from instrec.predict import load_model

    model = load_model(stage_model)
    classes = model.classes
    xs, ys, skipped, sources = [], [], [], []

    def add(emb: np.ndarray, labels) -> None:
        xs.append(emb)
        ys.append(np.tile(np.array([c in labels for c in classes], np.float32), (len(emb), 1)))

    for path, label in items:
        try:
            add(recording_windows(model, path, pooling=pooling)["emb"], [label])
            if mixed:
                sources.append((load_audio(path, P.SAMPLE_RATE), label))
        except AudioError as exc:
            skipped.append(str(exc))
    for samples, rate, label in notes:
        add(recording_windows(model, samples, rate, pooling)["emb"], [label])
        if mixed:
            sources.append((resample(samples, rate), label))
    heard = len(xs)
    for samples, labels in mixtures(sources, mixed, seed):
        add(recording_windows(model, samples, P.SAMPLE_RATE, pooling)["emb"], labels)
    if not xs:
        raise AudioError(f"{stage_model}: no real recording could be read for the probe")
    neg = clip_embeddings(model, negatives, pooling)
    y_neg, m_neg = clip_labels if clip_labels is not None else (np.zeros((len(neg), len(classes)), np.float32),
                                                                np.ones((len(neg), len(classes)), bool))
    x = np.concatenate(xs + ([neg] if len(neg) else []))
    y = np.concatenate(ys + ([y_neg.astype(np.float32)] if len(neg) else []))
    mask = np.concatenate([np.ones_like(part, bool) for part in ys] + ([m_neg.astype(bool)] if len(neg) else []))
    weight, bias, learned = fit(x, y, mask)
    if log:
        log(f"probe: {heard - len(notes)} recordings ({len(skipped)} unreadable), {len(notes)} notes, "
            f"{len(xs) - heard} mixtures, {len(x)} windows with {len(neg)} "
            f"{'stage' if clip_labels is not None else 'no-instrument'} clips; "
            f"learned {', '.join(c for c, k in zip(classes, learned) if k)}")
    probed = Probed(model.classifier.args, x.shape[-1], len(classes), pooling)
    probed.encoder.load_state_dict(model.classifier.state_dict())
    with torch.no_grad():
        probed.probe.weight.copy_(torch.from_numpy(weight))
        probed.probe.bias.copy_(torch.from_numpy(bias))
        probed.blend.copy_(torch.from_numpy(np.where(learned, BLEND, 0.0)))
    bundle = model.bundle
    made_by_export = {"format", "sha256", "model_args", "classes", "trained_classes", "threshold", "representation",
                      "config", "epoch", "best_val_f1_macro", "norm_stats"}
    record = {k: v for k, v in bundle.items() if k not in made_by_export}  # the stage model's record, kept
    record["probe"] = {"recordings": heard - len(notes), "notes": len(notes), "mixtures": len(xs) - heard,
                       "unreadable": len(skipped), "windows": int(len(x)),
                       ("stage_clips" if clip_labels is not None else "no_instrument_clips"): int(len(neg)),
                       "blend": BLEND, "c": C, "pooling": pooling,
                       "class_weight": "balanced",
                       "classes": [c for c, k in zip(classes, learned) if k]}
    return export_model(probed.eval(), bundle, out, {**record, **(about or {})})
