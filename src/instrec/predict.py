"""Instrument recognition on users' own recordings, with a per-0.96 s activity timeline.

``load_model(run)`` rebuilds what a trained run needs -- the representation recorded in its bundle
(weights checked by their sha256) and the classifier -- and ``model.predict(path_or_waveform)`` returns
a :class:`Prediction`. Files are read in blocks and resampled with a streaming resampler, so memory
stays bounded for any length. The classifier was trained on 10 s clips; a recording is cut into 10 s
windows (10 embeddings), each window is classified, and the file's probability of an instrument is its
highest window probability. The activity of an instrument in a 0.96 s step is the attention model's
class gate x attention for that step (for log-mel models: averaged over the step's 96 frames).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from instrec import params as P
from instrec.audio import (DECODE_ERRORS, check_audio_path, check_samples, check_waveform, resample, to_mono,
                           unreadable)
from instrec.errors import AudioError, InstrecError
from instrec.frontend import LogMelExamples
from instrec.training import load_bundle, to_sequence

WINDOW_EXAMPLES = 10  # the clip length the classifier was trained on (OpenMIC: 10 s)
EXAMPLE_SAMPLES = P.EXAMPLE_FRAMES * P.STFT_HOP_SAMPLES  # 15,360: one example hop
BLOCK_SECONDS = 60


@dataclass
class Prediction:
    """Per class: probability and decision; per 0.96 s step: activity (steps, classes)."""

    source: str
    classes: list[str]
    probs: np.ndarray
    threshold: float
    activity: np.ndarray
    step_seconds: float = P.EXAMPLE_SECONDS
    duration_seconds: float = 0.0
    trained: np.ndarray | None = None  # False for classes the model never saw labelled: never reported present
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.trained is None:
            self.trained = np.ones(len(self.classes), bool)

    @property
    def present(self) -> np.ndarray:
        return (self.probs >= self.threshold) & self.trained

    def instruments(self) -> list[tuple[str, float]]:
        """The instruments judged present, most probable first."""
        order = np.argsort(-self.probs)
        return [(self.classes[i], float(self.probs[i])) for i in order if self.present[i]]

    def to_dict(self) -> dict:
        return {"file": self.source, "duration_seconds": round(self.duration_seconds, 3), "threshold": self.threshold,
                "probabilities": {c: round(float(p), 4) if ok else None for c, p, ok in zip(self.classes, self.probs, self.trained)},
                "present": [c for c, _ in self.instruments()], "step_seconds": self.step_seconds,
                "activity": {c: [round(float(a), 4) for a in self.activity[:, i]] for i, c in enumerate(self.classes)}}


def stream_audio(path: str | Path, block_seconds: float = BLOCK_SECONDS):
    """Yield mono float32 blocks at 16 kHz from any file soundfile reads, in bounded memory."""
    path = check_audio_path(path)
    try:
        handle = sf.SoundFile(str(path))
    except DECODE_ERRORS as exc:
        raise unreadable(path, exc) from None
    with handle:
        rate = handle.samplerate
        resampler = soxr.ResampleStream(rate, P.SAMPLE_RATE, 1, dtype="float32", quality="HQ") if rate != P.SAMPLE_RATE else None
        while True:
            try:
                block = handle.read(int(block_seconds * rate), dtype="float32", always_2d=True)
            except DECODE_ERRORS as exc:
                raise AudioError(f"{path}: decoding failed part-way ({str(exc).splitlines()[0]}); the file is damaged") from None
            last = len(block) < int(block_seconds * rate)
            mono = to_mono(block) if block.shape[1] > 1 else block[:, 0]
            if mono.size:
                check_samples(mono, str(path))
            out = resampler.resample_chunk(mono, last=last) if resampler else mono
            if out.size:
                yield out
            if last:
                return


def examples_in_chunks(blocks, chunk_examples: int = 64):
    """Log-mel examples (n, 96, 64), hop 0.96 s, from a stream of 16 kHz blocks; equal to framing the whole
    signal at once (examples never share frames, so a chunk ends exactly where the next begins)."""
    frontend = LogMelExamples()
    take = P.MIN_EXAMPLE_SAMPLES + (chunk_examples - 1) * EXAMPLE_SAMPLES
    buffer = np.zeros(0, np.float32)
    total = 0
    for block in blocks:
        buffer = np.concatenate([buffer, block])
        total += block.size
        while buffer.size >= take:
            with torch.inference_mode():
                yield frontend(torch.from_numpy(buffer[:take]))
            buffer = buffer[chunk_examples * EXAMPLE_SAMPLES:]
    if buffer.size >= P.MIN_EXAMPLE_SAMPLES:
        with torch.inference_mode():
            yield frontend(torch.from_numpy(buffer))
    elif total < P.MIN_EXAMPLE_SAMPLES:
        raise AudioError(f"shorter than one 0.96 s example ({total / P.SAMPLE_RATE:.2f} s); give a longer recording")


class Model:
    """A trained run, ready to recognise instruments in recordings."""

    def __init__(self, run: str | Path, threshold: float | None = None) -> None:
        from instrec.representations.registry import build_representation

        self.run = Path(run)
        self.classifier, bundle = load_bundle(self.run)
        self.bundle = bundle
        self.classes = list(bundle["classes"])
        self.threshold = bundle["config"]["threshold"] if threshold is None else threshold
        rep = bundle["representation"]
        if rep["name"] == "openmic-released":
            raise InstrecError(f"{self.run}: was trained on OpenMIC's released features, which are not computed "
                               "from audio here; use a run trained with vggish-audioset features on audio")
        weights = Path(rep["weights"]) if "weights" in rep else None
        if weights is not None and not weights.is_file():
            raise InstrecError(f"{self.run}: needs the VGGish weights {weights}, which are missing; put them back "
                               "(or run `instrec weights fetch`) or use another model")
        self.representation = build_representation(
            rep["name"] if rep["name"] in ("logmel", "vggish-random", "vggish-audioset") else f"vggish:{weights}",
            weights=weights, pca=rep.get("pca"), postprocess=rep["postprocess"],
            final_relu=rep.get("final_relu", True), seed=rep.get("seed", 0), rounding=rep.get("rounding", "truncate"))
        if weights is not None and self.representation.info.get("weights_sha256_10") != rep.get("weights_sha256_10"):
            raise InstrecError(f"{weights}: is not the file this model was trained with (sha256 differs); "
                               "restore the original weights or retrain")
        if self.representation.key != rep["key"]:
            raise InstrecError(f"{self.run}: the representation rebuilt ({self.representation.key}) differs from "
                               f"the one trained with ({rep['key']}); check the weights and PCA files")
        self.norm_stats = bundle.get("norm_stats")
        self.trained = np.array(bundle.get("trained_classes", [True] * len(self.classes)), dtype=bool)

    def _features(self, examples: torch.Tensor) -> np.ndarray:
        """(n, 96, 64) -> classifier steps (n * steps_per_example, D)."""
        raw = self.representation.embed(examples)[None]  # (1, n, *shape)
        seq = to_sequence(raw, self.representation.dtype == np.uint8, self.representation.postprocess, self.norm_stats)
        return seq[0]

    def predict(self, audio: str | Path | np.ndarray, sample_rate: int | None = None) -> Prediction:
        """Recognise the instruments in a file or a waveform (``sample_rate`` required for a waveform)."""
        if isinstance(audio, (str, Path)):
            blocks, source = stream_audio(audio), str(audio)
        else:
            if sample_rate is None:
                raise InstrecError("predict(waveform) needs sample_rate=")
            samples = resample(check_waveform(audio), sample_rate)
            blocks, source = iter([samples]), "<waveform>"
        peak, envelope, total = [0.0], [], [0]

        def tracked(stream):  # the peak (silence check) and a 10 ms peak envelope (plots), in bounded memory
            for block in stream:
                total[0] += block.size
                peak[0] = max(peak[0], float(np.max(np.abs(block))) if block.size else 0.0)
                usable = block[: block.size // P.STFT_HOP_SAMPLES * P.STFT_HOP_SAMPLES]
                envelope.append(np.abs(usable).reshape(-1, P.STFT_HOP_SAMPLES).max(axis=1))
                yield block

        try:
            chunks = [self._features(chunk) for chunk in examples_in_chunks(tracked(blocks))]
            if peak[0] < 1e-5:  # below -100 dBFS
                raise AudioError("the recording is silent; there is nothing to recognise")
        except AudioError as exc:
            message = str(exc)
            raise AudioError(message if message.startswith(source) else f"{source}: {message}") from None
        prediction = self._classify(np.concatenate(chunks), source)
        prediction.extra["envelope"] = np.concatenate(envelope) if envelope else np.zeros(0)
        prediction.duration_seconds = total[0] / P.SAMPLE_RATE
        return prediction

    @property
    def representation_steps(self) -> int:
        """Classifier time steps per 0.96 s example (1 for embeddings, 96 for log-mel frames)."""
        return 1 if len(self.representation.output_shape) == 1 else self.representation.output_shape[0]

    def _classify(self, steps: np.ndarray, source: str) -> Prediction:
        per = self.representation_steps
        window = WINDOW_EXAMPLES * per
        probs = np.zeros(len(self.classes), np.float32)
        activity = []
        with torch.inference_mode():
            for start in range(0, len(steps), window):
                out = self.classifier(torch.from_numpy(np.ascontiguousarray(steps[start:start + window]))[None])
                probs = np.maximum(probs, out["probs"][0].numpy())
                act = out["activity"][0].numpy()
                activity.append(act.reshape(-1, per, act.shape[-1]).mean(axis=1))
        return Prediction(source, self.classes, probs, self.threshold, np.concatenate(activity), trained=self.trained)


def best_in_study(study_dir: str | Path) -> Path:
    """The seed-0 (or first) cell of the best row of a study that can run on audio."""
    study_dir = Path(study_dir)
    results = json.loads((study_dir / "results.json").read_text())
    ranked = sorted((r for r in results["rows"] if r["seeds"] and r["f1_macro"]["mean"] is not None
                     and r["key"] != "openmic-rf-baseline" and "released" not in r["source"]),
                    key=lambda r: -r["f1_macro"]["mean"])
    for row in ranked:
        cells = sorted((study_dir / "cells" / row["key"]).glob("seed*/best.pt"))
        if cells:
            return cells[0].parent
    raise InstrecError(f"{study_dir}: the study has no trained model yet; let it finish or pass --model RUN_DIR")


def latest_study_model(root: str | Path = "runs") -> Path:
    """The best model of the most recent finished study under ``root``."""
    studies = sorted(Path(root).glob("study-*/results.json"), key=lambda p: p.stat().st_mtime)
    for results_file in reversed(studies):
        try:
            return best_in_study(results_file.parent)
        except InstrecError:
            continue
    raise InstrecError(f"{Path(root)}: no finished study with a trained model; run `instrec study` or pass --model RUN_DIR")


def load_model(model: str | Path | None = None, threshold: float | None = None) -> Model:
    """A run folder from ``train`` or a study cell, a study folder (its best row), or by default the best
    model of the latest study under ./runs."""
    if model is None:
        return Model(latest_study_model(), threshold)
    path = Path(model)
    return Model(best_in_study(path) if (path / "results.json").exists() else path, threshold)
