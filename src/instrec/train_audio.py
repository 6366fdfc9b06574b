"""Teach instrec your instruments: ``instrec train-audio --audio DIR --labels labels.csv --out MODEL``.

The labels are the ``evaluate-audio`` format (file, instruments separated by ``;``; every class not listed is
absent), and may name classes outside the 20 OpenMIC ones (oud, tabla, your band's singer). The model starts from
the shipped one: each recording is read as ``predict`` reads it (its stretches of sound, whole examples, its level
rule), the shipped encoder turns each 0.96 s example into its embedding, and a new attention head learns the
user's classes on windows of up to 10 examples. The shipped classes the labels never name keep the shipped head's
answer (``--only-my-classes`` drops them). Frozen encoder or fine-tuned (``mode``): chosen by measurement
(docs/experiments/2026-12-05-train-audio.md). The export is a model folder that ``predict --model``,
``evaluate-audio --model`` and ``load_model`` use like the shipped one.

Before the final model is trained on every file, k-fold cross-validation grouped by file (the windows of one
recording never sit on both sides) reports per-class F1-macro at the threshold and AP, beside the shipped model's on
the classes it knows.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from instrec.errors import AudioError, InstrecError

MODES = ("frozen", "finetune")


@dataclass
class AudioTrainConfig:
    mode: str = "frozen"  # chosen by measurement (the notebook page)
    epochs: int = 30
    lr: float = 1e-3  # the new head
    encoder_lr: float = 1e-4  # the encoder, when fine-tuned
    folds: int = 5
    seed: int = 0
    threshold: float = 0.4
    only_my_classes: bool = False


def _file_windows(model, path: Path) -> list[torch.Tensor]:
    """A recording's windows of classifier steps, read and cut as ``predict`` reads and cuts them: each stretch of
    sound's heard examples in windows of up to 10."""
    from instrec.predict import window_parts

    reading = model.read(path)
    steps = torch.from_numpy(np.ascontiguousarray(reading.steps))
    examples = steps.view(len(reading.silent), -1, steps.shape[-1])  # (n, classifier steps per example, D)
    return [part[0] for _, _, part in window_parts(examples, reading.silent, reading.placed)]


def _train(encoder: torch.nn.Module, features: list[list[torch.Tensor]], targets: np.ndarray,
           config: AudioTrainConfig, hidden: int = 128):
    """A new attention head (and, fine-tuned, the encoder) on the windows of each file; returns (encoder, head)."""
    from instrec.classifier import AttentionClassifier

    torch.manual_seed(config.seed)
    encoder = copy.deepcopy(encoder)
    size = int(encoder.embed(features[0][0][None]).shape[-1])
    head = AttentionClassifier(size, targets.shape[1], hidden, "paper", 16)
    frozen = config.mode == "frozen"
    encoder.train(not frozen)
    for p in encoder.parameters():
        p.requires_grad_(not frozen)
    groups = [{"params": head.parameters(), "lr": config.lr}]
    if not frozen:
        groups.append({"params": encoder.parameters(), "lr": config.encoder_lr})
    optimizer = torch.optim.Adam(groups)
    items = [(w, i) for i, file_windows in enumerate(features) for w in file_windows]
    if frozen:  # embed once
        with torch.no_grad():
            items = [(encoder.embed(w[None])[0], i) for w, i in items]
    y = torch.from_numpy(targets.astype(np.float32))
    mask = torch.ones_like(y[0:1])
    rng = np.random.default_rng(config.seed)
    for _ in range(config.epochs):
        for k in rng.permutation(len(items)):
            window, i = items[k]
            embedded = window[None] if frozen else encoder.embed(window[None])
            loss = head(embedded, y[i:i + 1], mask)["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    encoder.eval()
    head.eval()
    for p in encoder.parameters():
        p.requires_grad_(False)
    return encoder, head


def _file_probs(encoder, head, file_windows: list[torch.Tensor], rule: str) -> np.ndarray:
    """A file's probability per new class under the model's file rule, as ``predict`` combines its windows."""
    from instrec.predict import file_probability

    with torch.inference_mode():
        probs = [head(encoder.embed(w[None]))["probs"][0].numpy() for w in file_windows]
    return file_probability(np.stack(probs), np.array([len(w) for w in file_windows], float), rule)


def _folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng([seed, 7]).permutation(n)
    return [np.sort(order[i::k]) for i in range(k)]


def train_audio(audio_dir: str | Path, labels_csv: str | Path, out: str | Path, config: AudioTrainConfig = AudioTrainConfig(),
                base: str | Path | None = None, log=print) -> dict:
    """Cross-validate, train on every file, export to ``out``; returns the report (also ``out/train-audio.json``)."""
    from instrec.bundle import export_model
    from instrec.evaluation import read_labels, score
    from instrec.io import atomic_write_json, one_writer
    from instrec.predict import load_model

    if config.mode not in MODES:
        raise InstrecError(f"--mode {config.mode}: use one of {', '.join(MODES)}")
    started = time.perf_counter()
    model = load_model(base)
    rows = read_labels(labels_csv, audio_dir, None)
    mine = sorted({c for _, labels in rows for c in labels}, key=lambda c: (c not in model.classes, c))
    if not mine:
        raise InstrecError(f"{labels_csv}: no file is labelled with an instrument; label what plays in each")
    kept = [] if config.only_my_classes else [c for c, ok in zip(model.classes, model.trained) if ok and c not in mine]
    targets = np.array([[c in labels for c in mine] for _, labels in rows], np.float32)
    k = min(config.folds, len(rows))
    if k < 2:
        raise InstrecError(f"{labels_csv}: {len(rows)} files; cross-validation needs at least 2")
    few = [c for j, c in enumerate(mine) if targets[:, j].sum() < 2]
    if few:
        log(f"instrec: warning: {', '.join(few)}: fewer than 2 files each; trained, but cross-validation cannot "
            "judge them (10 or more files make a useful model)")
    with one_writer(out, "model folder"):
        features = []
        for path, _ in rows:
            try:
                features.append(_file_windows(model, path))
            except AudioError as exc:
                raise InstrecError(f"{exc}; fix or remove it from {labels_csv}") from None
        log(f"train-audio: {len(rows)} files, {sum(len(f) for f in features)} windows; classes {', '.join(mine)}; "
            f"{k}-fold cross-validation ({config.mode} encoder)")
        held = np.zeros_like(targets)
        for fold in _folds(len(rows), k, config.seed):
            train = np.setdiff1d(np.arange(len(rows)), fold)
            encoder, head = _train(model.classifier, [features[i] for i in train], targets[train], config)
            for i in fold:
                held[i] = _file_probs(encoder, head, features[i], model.file_rule)
        ones = np.ones_like(targets, bool)
        cv = score(held, targets, ones, mine, config.threshold)
        shipped_cls = [c for c in mine if c in model.classes]
        shipped = None
        if shipped_cls:
            columns = [model.classes.index(c) for c in shipped_cls]
            probs = np.stack([model.predict(path).probs[columns] for path, _ in rows])
            shipped = score(probs, targets[:, [mine.index(c) for c in shipped_cls]],
                            np.ones((len(rows), len(shipped_cls)), bool), shipped_cls, model.threshold,
                            model.trained[columns])
        encoder, head = _train(model.classifier, features, targets, config)
        from instrec.convnet import Adapted

        outputs = [("base", model.classes.index(c)) for c in kept] + [("new", j) for j in range(len(mine))]
        adapted = Adapted(encoder.args, head.args, outputs)
        adapted.encoder.load_state_dict(encoder.state_dict())
        adapted.new_head.load_state_dict(head.state_dict())
        classes = kept + mine
        bundle = {**model.bundle, "classes": classes, "trained_classes": [True] * len(classes),
                  "config": {**model.bundle["config"], "threshold": config.threshold}}
        report = {"files": len(rows), "classes": mine, "kept_shipped_classes": kept, "config": asdict(config),
                  "cross_validation": {"folds": k, "grouped_by": "file",
                                       "per_class": {c: {m: cv["per_class"][c][m] for m in ("f1_macro", "ap",
                                                                                           "positives")}
                                                     for c in mine},
                                       "f1_macro": cv["f1_macro"], "map": cv["map"]},
                  "base_model_on_the_same_files": None if shipped is None else
                  {c: {m: shipped["per_class"][c][m] for m in ("f1_macro", "ap")} for c in shipped_cls},
                  "seconds": None}
        export_model(adapted, bundle, out, {"command": "instrec train-audio", "train_audio": report,
                                            "file_rule": model.file_rule, "input_level": model.input_level})
        report["seconds"] = time.perf_counter() - started
        atomic_write_json(Path(out) / "train-audio.json", report)
    return report
