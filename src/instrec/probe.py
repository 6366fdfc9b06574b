"""A linear probe on real recordings, averaged with the network's own head.

After the real-recording stage, the model reads every real recording of its training libraries as ``predict``
reads a file (stretches of sound, windows of up to 10 examples); a window's embedding is the mean of its heard
examples' embeddings (every member's, concatenated). One logistic regression per class (standardised embeddings,
balanced class weights, C = 1) learns on these windows, on the recorded notes of the tonejs-instruments bank (real
single notes of flute, clarinet, trumpet, trombone, violin, cello and nine more:
:func:`instrec.real_stage.bank_notes`), and on the stage's no-instrument clips (tones, sweeps, hum, noise,
applause: every class absent). A gate, one logistic regression of the same kind, learns on the same windows
(one real instrument each) and on all the stage's own clips to tell one real instrument playing alone (a real part
alone, every class labelled: :func:`one_instrument`) from anything else (several instruments, none, or rendered
sound, whatever its count). The exported model (:class:`instrec.convnet.Probed`) gives each class
``(1 - BLEND g) * head + BLEND g * probe``, g the gate's probability, a class without a recording keeping the
head's answer.

Measured (docs/experiments/2026-12-06-gated-probe.md), the recipe's default: on real libraries held out of both
(source folds) the gated blend scores F1 0.725, mAP 0.641, top-1 0.657 against 0.666 / 0.567 / 0.462 for the
stage model alone; on rendered mixtures of a held-out bank (csound, 3 to 7 instruments per clip) it keeps the
head's answer (F1 0.836 against 0.841, mAP 0.795 against 0.805), where the probe on every window (``always``,
docs/experiments/2026-12-05-probe-with-notes.md) fell to 0.723 / 0.746.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from instrec import params as P

BLEND = 0.5  # the probe's share of a class's probability (measured at this value only)
# a class learned from a physical model alone (datasets/synth/mandolin.py), which the networks hardly learn: the
# probe's whole say where the gate opens (docs/experiments/2026-12-06-modelled-mandolin.md, candidate 12)
MODELLED_BLEND = 1.0
C = 1.0  # the logistic regressions' inverse regularisation strength
# what export_model writes itself, not kept from the stage model's record
MADE_BY_EXPORT = {"format", "sha256", "model_args", "classes", "trained_classes", "threshold", "representation",
                  "config", "epoch", "best_val_f1_macro", "norm_stats"}


def recording_windows(model, source, sample_rate: int | None = None) -> dict:
    """A recording as ``predict`` reads it (``model`` a predict.Model): per window, the mean of its heard examples'
    embeddings ``emb``, the model's own probabilities ``probs``, its heard examples ``lengths`` and its phase."""
    from instrec.predict import window_parts

    reading = model.read(source, sample_rate)
    with torch.inference_mode():
        seq, head, per = model._head_sequence(reading.steps)
        emb, probs, lengths, phases = [], [], [], []
        for phase, length, part in window_parts(seq.view(-1, per, seq.shape[-1]), reading.silent, reading.placed):
            probs.append(head(part)["probs"][0].numpy())
            emb.append(part[0].mean(dim=0).numpy())
            lengths.append(length)
            phases.append(phase)
    return {"emb": np.stack(emb), "probs": np.stack(probs), "lengths": np.array(lengths, float),
            "phases": np.array(phases)}


def clip_embeddings(model, raw: np.ndarray) -> np.ndarray:
    """Clips of raw log-mel (N, 10 x 96, 64), as the real stage caches them, embedded as ``predict`` would: the mean
    over each clip's heard examples (N, D)."""
    from instrec import params as P
    from instrec.predict import MIN_SOUNDING_FRAMES, SILENCE_LOGMEL
    from instrec.representations.postprocess import normalize_min_max

    out = []
    with torch.inference_mode():
        for i in range(0, len(raw), 64):
            x = torch.from_numpy(raw[i:i + 64].astype(np.float32))
            ex = x.view(len(x), -1, P.EXAMPLE_FRAMES, x.shape[-1])
            heard = ((ex.amax(dim=3) >= SILENCE_LOGMEL).sum(dim=2) >= MIN_SOUNDING_FRAMES).float()
            heard[heard.sum(dim=1) == 0] = 1.0  # a clip silent throughout: all its examples
            emb = model.classifier.embed(torch.from_numpy(normalize_min_max(x.numpy(), model.norm_stats)))
            out.append(((emb * heard[..., None]).sum(dim=1) / heard.sum(dim=1, keepdim=True)).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def fit(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None, balanced: bool = True, c: float = C,
        sample_weight: np.ndarray | None = None):
    """Per class a logistic regression on standardised ``x`` (n, D) for labels ``y`` (n, C) (rows where ``mask``,
    each row weighted by ``sample_weight`` where given): (weight (C, D), bias (C,), learned (C,) bool), the
    standardisation folded into the weights. A class without both a positive and a negative row is not learned
    (weight and bias 0)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    mask = np.ones_like(y, bool) if mask is None else mask.astype(bool)
    scaler = StandardScaler().fit(x)
    z = scaler.transform(x)
    weight = np.zeros((y.shape[1], x.shape[1]), np.float64)
    bias = np.zeros(y.shape[1], np.float64)
    learned = np.zeros(y.shape[1], bool)
    for k in range(y.shape[1]):
        target = y[mask[:, k], k] >= 0.5
        if target.all() or not target.any():
            continue
        lr = LogisticRegression(C=c, class_weight="balanced" if balanced else None, max_iter=2000)
        lr.fit(z[mask[:, k]], target, sample_weight=None if sample_weight is None else sample_weight[mask[:, k]])
        weight[k] = lr.coef_[0] / scaler.scale_
        bias[k] = lr.intercept_[0] - float((lr.coef_[0] * scaler.mean_ / scaler.scale_).sum())
        learned[k] = True
    return weight, bias, learned


def library_weights(labels, libraries) -> np.ndarray:
    """A weight per row such that, within each label (a class, or "" for the no-instrument rows), every library has
    the same total weight and the label's total is its row count
    (docs/experiments/2026-12-06-probe-share-and-sources.md, candidate 23)."""
    labels, libraries = np.asarray(labels, object), np.asarray(libraries, object)
    weight = np.zeros(len(labels), np.float64)
    for label in set(labels.tolist()):
        rows = labels == label
        libs, inverse, counts = np.unique(libraries[rows].astype(str), return_inverse=True, return_counts=True)
        weight[rows] = rows.sum() / (len(libs) * counts[inverse])
    return weight


def probe_probs(weight: np.ndarray, bias: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(x @ weight.T + bias)))


def training_recordings(root: Path | None, hold_out: tuple[str, ...]) -> list[tuple[Path, str]]:
    """(path, class) of the real recordings the probe learns from: those the real stage may use
    (``real_stage.training_recordings``)."""
    from instrec import real_stage

    return [(path, r.label) for r, path in real_stage.training_recordings(root, hold_out)]


def _copy_source(source, rate: int | None) -> np.ndarray:
    """A recording (a path, or ``source`` samples at ``rate``) as mono samples at 16 kHz."""
    from instrec.audio import load_audio, resample

    return load_audio(source) if rate is None else resample(np.asarray(source, np.float32), rate)


def _copy_rng(key: str, kind: int) -> np.random.Generator:
    """The generator of the copy of the kind numbered ``kind`` of the recording with seed key ``key``."""
    import zlib

    return np.random.default_rng([zlib.crc32(key.encode()), kind])


def worn_copy(source, rate: int | None, key: str) -> np.ndarray:
    """A recording (a path, or ``source`` samples at ``rate``) as a worn recording at 16 kHz, mono: through a chain
    of ``recording.draw_degradation`` drawn from a seed of ``key`` (a recording's folder and name), so that every
    model hears the same copy (docs/experiments/2026-12-06-degraded-probe.md)."""
    from instrec.datasets.synth.recording import apply_chain, draw_degradation

    return apply_chain(_copy_source(source, rate), P.SAMPLE_RATE, draw_degradation(_copy_rng(key, 7)))


PITCH_SHIFT_SEMITONES = (1.0, 3.0)  # a pitched copy's shift, up or down (candidate 33p)


def pitched_copy(source, rate: int | None, key: str) -> np.ndarray:
    """A recording as if played by a larger or smaller instrument of its kind: resampled so that it sounds 1 to 3
    semitones higher or lower (pitch, body resonances and length together, like a tape run faster or slower), the
    shift drawn from a seed of ``key`` (docs/experiments/2026-12-07-copies-for-the-probe.md, candidate 33p)."""
    from instrec.audio import resample

    rng = _copy_rng(key, 11)
    semitones = float(rng.uniform(*PITCH_SHIFT_SEMITONES)) * (1 if rng.random() < 0.5 else -1)
    # read as if sampled 2^(s/12) faster than it was: s semitones higher, and shorter by as much
    return resample(_copy_source(source, rate), int(round(P.SAMPLE_RATE * 2.0 ** (semitones / 12.0))))


def rerecorded_copy(source, rate: int | None, key: str) -> np.ndarray:
    """A recording heard again in another room through another microphone: the recording chain as the real stage
    draws it (room, microphone colour, band limit, compressor, MP3) without its noise, so that no hum or hiss is
    learned as the instrument (docs/experiments/2026-12-07-copies-for-the-probe.md, candidate 33r)."""
    from instrec.datasets.synth.recording import apply_chain, draw_chain

    chain = draw_chain(_copy_rng(key, 13), noise_probability=0.0)
    return apply_chain(_copy_source(source, rate), P.SAMPLE_RATE, chain)


COPIES = {"worn": worn_copy, "pitched": pitched_copy, "rerecorded": rerecorded_copy}


def worn_key(path: Path) -> str:
    """The seed key of a recording's copies (:data:`COPIES`): its folder and name (the same on every machine)."""
    return f"{Path(path).parent.name}/{Path(path).name}"


def one_instrument(y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The gate's target for clips labelled ``y`` (N, C) where ``mask``: exactly one instrument, with every class
    labelled. In the real stage's clips these are the real parts played alone (with or without a no-instrument sound
    on top); every rendered clip and overlay (their banks leave classes unlabelled, whatever the count), a real part
    among others and a no-instrument clip is not one. (Measured this way: docs/experiments/2026-12-06-gated-probe.md,
    candidate 9; counting a rendered solo as one cost the held-out bank, candidate 8.)"""
    mask = mask.astype(bool)
    return mask.all(axis=1) & (((y >= 0.5) & mask).sum(axis=1) == 1)


def attach(stage_model: str | Path, out: str | Path, items: list[tuple[Path, str]], negatives: np.ndarray,
           about: dict | None = None, log=None, notes: list[tuple[np.ndarray, int, str]] = (),
           gate_clips: dict | None = None, modelled: tuple[str, ...] = (), copies: tuple[str, ...] = (),
           features: str = "embedding") -> Path:
    """Fit the probe on ``items`` (path, class), the recorded ``notes`` (samples, rate, class; see
    :func:`instrec.real_stage.bank_notes`) and the raw log-mel no-instrument clips ``negatives``, read by the exported
    model ``stage_model``; with ``gate_clips`` (the stage's clips: raw log-mel ``x``, labels ``y``, ``mask``, as
    ``real_stage.build_clips`` gives them), also the gate, on them (:func:`one_instrument`) and on the items' and
    notes' windows (one real instrument each). The ``modelled`` classes (known from a physical model alone, their
    pieces among the ``notes``) get the probe's share ``MODELLED_BLEND`` instead of ``BLEND``. The probe and the gate
    also learn each item and note once more per kind of ``copies`` (:data:`COPIES`: ``worn``, ``pitched``,
    ``rerecorded``). Probe and gate read the networks' ``features`` (``convnet.PROBE_FEATURES``: their embeddings,
    the pooled convolution features they are made from, or both). Export the :class:`Probed` model to ``out``."""
    from instrec.bundle import export_model
    from instrec.convnet import Probed, without_probe
    from instrec.datasets.synth.modelled import WHOLE_SAY
    from instrec.errors import AudioError, InstrecError
    from instrec.predict import load_model

    kinds = tuple(dict.fromkeys(copies))
    unknown = [k for k in kinds if k not in COPIES]
    if unknown:
        raise InstrecError(f"no copy of the kind {', '.join(unknown)}; the kinds are {', '.join(COPIES)}")
    check_features(features)
    model = load_model(stage_model)
    networks = without_probe(model.classifier)  # a probed model gets a new probe
    classes = model.classes
    own = 0  # the values of what the model embeds that the probe does not read (the embeddings, for "pooled")
    if features != "embedding":  # read through a Probed model that says nothing: its head is the networks' own
        model.classifier = reader(networks, len(classes), features)
        own = model.classifier.own if features == "pooled" else 0
    xs, ys, skipped = [], [], []

    def add(emb: np.ndarray, label: str) -> None:
        xs.append(emb)
        ys.append(np.tile(np.array([c == label for c in classes], np.float32), (len(emb), 1)))

    for path, label in items:
        try:
            add(recording_windows(model, path)["emb"], label)
        except AudioError as exc:
            skipped.append(str(exc))
            continue
        for kind in kinds:
            add(recording_windows(model, COPIES[kind](path, None, worn_key(path)), P.SAMPLE_RATE)["emb"], label)
    recordings = len(items) - len(skipped)
    for i, (samples, rate, label) in enumerate(notes):
        add(recording_windows(model, samples, rate)["emb"], label)
        for kind in kinds:
            add(recording_windows(model, COPIES[kind](samples, rate, f"note/{i}"), P.SAMPLE_RATE)["emb"], label)
    if not xs:
        raise AudioError(f"{stage_model}: no real recording could be read for the probe")
    neg = clip_embeddings(model, negatives)
    x = np.concatenate(xs + ([neg] if len(neg) else []))[:, own:]
    y = np.concatenate(ys + ([np.zeros((len(neg), len(classes)), np.float32)] if len(neg) else []))
    weight, bias, learned = fit(x, y)
    if log:
        log(f"probe: {recordings} recordings ({len(skipped)} unreadable), {len(notes)} notes, {len(x)} windows with "
            f"{len(neg)} no-instrument clips; learned {', '.join(c for c, k in zip(classes, learned) if k)}")
    gate = None
    if gate_clips is not None:
        singles = x[:len(x) - len(neg)]  # the items' and notes' windows
        gx = np.concatenate([clip_embeddings(model, gate_clips["x"])[:, own:], singles])
        gy = np.concatenate([one_instrument(gate_clips["y"], gate_clips["mask"]),
                             np.ones(len(singles), bool)]).astype(np.float32)[:, None]
        gate_weight, gate_bias, gate_learned = fit(gx, gy)
        if not gate_learned[0]:
            raise InstrecError(f"{stage_model}: the gate needs clips that are not one instrument alone (several, "
                               "none, rendered) beside the recordings; the stage's clips given have none")
        gate = {"windows": int(len(gx)), "one_instrument": int(gy.sum())}
        if log:
            log(f"gate: {len(gx)} windows, {int(gy.sum())} with one instrument")
    probed = Probed(networks.args, x.shape[1], len(classes), gate=gate is not None, features=features)
    probed.encoder.load_state_dict(networks.state_dict())
    with torch.no_grad():
        probed.probe.weight.copy_(torch.from_numpy(weight))
        probed.probe.bias.copy_(torch.from_numpy(bias))
        share = np.array([MODELLED_BLEND if c in modelled and c in WHOLE_SAY else BLEND for c in classes])
        probed.blend.copy_(torch.from_numpy(np.where(learned, share, 0.0)))
        if gate is not None:
            probed.gate.weight.copy_(torch.from_numpy(gate_weight))
            probed.gate.bias.copy_(torch.from_numpy(gate_bias))
    bundle = model.bundle
    record = {k: v for k, v in bundle.items() if k not in MADE_BY_EXPORT}  # the stage model's record, kept
    record["probe"] = {"recordings": recordings, "notes": len(notes), "unreadable": len(skipped),
                       **({"worn_copies": True} if "worn" in kinds else {}),
                       **({"copies": list(kinds)} if set(kinds) - {"worn"} else {}),
                       "windows": int(len(x)), "no_instrument_clips": int(len(neg)), "blend": BLEND,
                       **({"modelled": list(modelled), "modelled_blend": MODELLED_BLEND} if modelled else {}), "c": C,
                       "class_weight": "balanced", "classes": [c for c, k in zip(classes, learned) if k],
                       "gate": gate, **({"features": features} if features != "embedding" else {})}
    return export_model(probed.eval(), bundle, out, {**record, **(about or {})})


def check_features(features: str) -> None:
    """What a probe reads must be one of ``convnet.PROBE_FEATURES``; else InstrecError in one line."""
    from instrec.convnet import check_probe_features
    from instrec.errors import InstrecError

    try:
        check_probe_features(features)
    except ValueError as exc:
        raise InstrecError(str(exc)) from None


def reader(networks, num_classes: int, features: str):
    """The trained ``networks`` as a :class:`Probed` model whose probe has no say (blend 0): it embeds as a probe
    reading ``features`` needs and answers as the networks do."""
    from instrec.convnet import Probed, embedding_size, pooled_size

    size, pooled = embedding_size(networks), pooled_size(networks)
    model = Probed(networks.args, pooled if features == "pooled" else size + pooled, num_classes, features=features)
    model.encoder.load_state_dict(networks.state_dict())
    return model.eval()


def networks_only(model_dir: str | Path, out: str | Path) -> Path:
    """The exported model ``model_dir`` without its probe and gate (its networks and their head alone, with its
    rules but the floor, which needs the gate), exported to ``out``: the head's own answer, for comparison."""
    from instrec.bundle import export_model
    from instrec.convnet import without_probe
    from instrec.predict import load_model

    model = load_model(model_dir)
    networks = without_probe(model.classifier)
    record = {k: v for k, v in model.bundle.items() if k not in MADE_BY_EXPORT | {"probe", "floor"}}
    return export_model(networks.eval(), model.bundle, out, record)
