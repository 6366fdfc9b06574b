"""Instrument recognition on users' own recordings, with a per-0.96 s probability timeline.

``load_model()`` gives the model shipped with instrec (``instrec/models/default``); ``load_model(run)`` a
trained run or a study's best -- the representation recorded in its bundle (weights checked by their
sha256) and the classifier -- and ``model.predict(path_or_waveform)`` returns a :class:`Prediction`.
Files are read in blocks and resampled with a streaming resampler, so memory stays bounded for any length.

How a file is judged. The audio becomes 0.96 s log-mel examples; a recording shorter than one example
(one-shots, drum hits) is zero-padded to one, as the VGGish reference pads, and the prediction says so.
An example whose samples stay within -80 dBFS of their mean (``QUIET_PEAK``: digital silence, a DC
offset, faint hiss), or with fewer than ``MIN_SOUNDING_FRAMES`` frames whose loudest mel band rises above
``SILENCE_LOGMEL`` (a click or a pop in silence), carries no evidence: it is left out of the file decision and
shown as silent in the timeline; a file of nothing else is refused as silent (judged on the audio as recorded).
The model's input-level rule (``LEVEL_RULES``; the shipped model's is "fixed") then sets the file's level: its
log-mel examples become those of the file with its peak at ``LEVEL_PEAK_DBFS``. The classifier was trained on 10 s clips, so the
remaining examples are cut into windows of 10, each window gets a probability per instrument, and the
file's probability is the model's file rule of its windows' (``FILE_RULES``; ``model.json`` carries it, ``FILE_RULE``
otherwise; see :func:`file_probability` and docs/model-card.md#the-file-level-rule). The timeline gives, per 0.96 s step, the probability of each instrument that the
classifier assigns to that step alone, on the same [0, 1] scale as the file's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from instrec import params as P
from instrec.audio import (DECODE_ERRORS, check_audio_path, check_samples, check_waveform, resample, to_mono,
                           unreadable, warn_if_truncated)
from instrec.errors import AudioError, InstrecError
from instrec.datasets.synth.recording import PEAK_DBFS
from instrec.frontend import LogMelExamples
from instrec.bundle import is_exported, load_exported, load_run_bundle, trained_classes
from instrec.representations.postprocess import to_sequence

WINDOW_EXAMPLES = 10  # the clip length the classifier was trained on (OpenMIC: 10 s)
SILENCE_LOGMEL = float(np.log(2 * P.LOG_OFFSET))  # log-mel floor is log(0.01); a tone at about -80 dBFS reaches this
MIN_SOUNDING_FRAMES = 5  # an example with fewer frames above the floor (50 ms: a click, a pop) holds no music
QUIET_PEAK = 1e-4  # -80 dBFS around the mean: silence, a DC offset or faint hiss
# the quiet test skips a file's first and last 10 ms: there a resampler's filter rings (soxr HQ: up to ~7 ms from
# an 8 kHz source) as the signal starts from and returns to zero, so a DC offset would not read as quiet
QUIET_EDGE_SAMPLES = P.SAMPLE_RATE // 100
FILE_RULES = ("max", "mean", "top3", "top-third")
FILE_RULE = "max"  # for models without one in model.json (E4's, docs/experiments/2026-11-28-file-rule-synthetic.md)
# How a recording's level is set before the network hears it (see :func:`level_gain`): "none" leaves it; "fixed"
# moves the file's peak to LEVEL_PEAK_DBFS; "range" moves it into the recording chain's PEAK_DBFS only where it
# lies outside
LEVEL_RULES = ("none", "fixed", "range")
LEVEL_PEAK_DBFS = sum(PEAK_DBFS) / 2  # the middle of the training clips' peaks in dB: -9.5
EXAMPLE_SAMPLES = P.EXAMPLE_FRAMES * P.STFT_HOP_SAMPLES  # 15,360: one example hop
BLOCK_SECONDS = 60


@dataclass
class Prediction:
    """Per class: probability and decision; per 0.96 s step: ``activity`` (steps, classes), the probability of
    each class in that step alone, 0 in silent steps (``extra["silent"]``)."""

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
                "activity": {c: [round(float(a), 4) for a in self.activity[:, i]] for i, c in enumerate(self.classes)},
                "silent_steps": [int(i) for i in np.flatnonzero(self.extra.get("silent", []))],
                "padded_from_seconds": self.extra.get("padded_from_seconds"),
                "input_gain_db": self.extra.get("input_gain_db")}


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
        expected, frames = handle.frames, 0
        while True:
            try:
                block = handle.read(int(block_seconds * rate), dtype="float32", always_2d=True)
            except DECODE_ERRORS as exc:
                raise AudioError(f"{path}: decoding failed part-way ({str(exc).splitlines()[0]}); the file is damaged") from None
            last = len(block) < int(block_seconds * rate)
            frames += len(block)
            if last:
                warn_if_truncated(path, expected, frames)
            mono = to_mono(block) if block.shape[1] > 1 else block[:, 0]
            if mono.size:
                check_samples(mono, str(path))
            out = resampler.resample_chunk(mono, last=last) if resampler else mono
            if out.size:
                yield out
            if last:
                return


def examples_in_chunks(blocks, chunk_examples: int = 64, notes: dict | None = None):
    """Log-mel examples (n, 96, 64), hop 0.96 s, from a stream of 16 kHz blocks; equal to framing the whole
    signal at once (examples never share frames, so a chunk ends exactly where the next begins). A signal
    shorter than one example is zero-padded to one, and ``notes["padded_from_seconds"]`` records its length.
    ``notes["quiet"]`` collects, per example, whether its samples (the real ones, without padding, and not the
    file's first and last ``QUIET_EDGE_SAMPLES``) stay within +-``QUIET_PEAK`` of their mean: nothing but
    silence, a DC offset or faint hiss."""
    frontend = LogMelExamples()
    take = P.MIN_EXAMPLE_SAMPLES + (chunk_examples - 1) * EXAMPLE_SAMPLES
    buffer = np.zeros(0, np.float32)
    total = 0
    notes = {} if notes is None else notes
    quiet = notes.setdefault("quiet", [])

    def emit(samples: np.ndarray, real: int, first: bool, last: bool):
        examples = frontend(torch.from_numpy(samples))
        head = QUIET_EDGE_SAMPLES if first else 0
        real = real - QUIET_EDGE_SAMPLES if last else real
        starts = np.arange(len(examples)) * EXAMPLE_SAMPLES
        quiet.extend(_is_quiet(samples[max(s, head):min(s + P.MIN_EXAMPLE_SAMPLES, real)]) for s in starts)
        return examples

    for block in blocks:
        buffer = np.concatenate([buffer, block])
        total += block.size
        while buffer.size >= take + QUIET_EDGE_SAMPLES:  # a chunk is emitted once the file's end cannot lie in it
            with torch.inference_mode():
                yield emit(buffer[:take], take, total == buffer.size, False)
            buffer = buffer[chunk_examples * EXAMPLE_SAMPLES:]
    if buffer.size >= P.MIN_EXAMPLE_SAMPLES:
        with torch.inference_mode():
            yield emit(buffer, buffer.size, total == buffer.size, True)
    elif total < P.MIN_EXAMPLE_SAMPLES:
        if total == 0:
            raise AudioError("holds no audio samples; give a recording")
        if total < EXAMPLE_SAMPLES:  # a file of exactly 0.96 s is one example (its last window just needs 15 ms)
            notes["padded_from_seconds"] = total / P.SAMPLE_RATE
        padded = np.concatenate([buffer, np.zeros(P.MIN_EXAMPLE_SAMPLES - buffer.size, np.float32)])
        with torch.inference_mode():
            yield emit(padded, buffer.size, True, True)


def _is_quiet(samples: np.ndarray) -> bool:
    return samples.size == 0 or float(np.max(np.abs(samples - samples.mean()))) < QUIET_PEAK


class Model:
    """A trained run, ready to recognise instruments in recordings."""

    def __init__(self, run: str | Path, threshold: float | None = None, file_rule: str | None = None,
                 input_level: str | None = None) -> None:
        from instrec.representations.registry import build_representation

        self.run = Path(run)
        self.classifier, bundle = load_exported(self.run) if is_exported(self.run) else load_run_bundle(self.run)
        self.bundle = bundle
        # the model's own rule (an export records the one chosen for it), else the default
        file_rule = bundle.get("file_rule", FILE_RULE) if file_rule is None else file_rule
        if file_rule not in FILE_RULES:
            raise InstrecError(f"file rule {file_rule!r}: use one of {', '.join(FILE_RULES)}")
        self.file_rule = file_rule
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
        self.trained = trained_classes(bundle)
        self.input_level = bundle.get("input_level", "none") if input_level is None else input_level
        level_gain(1.0, self.input_level)  # an unknown rule fails here, not at the first file

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
        envelope, total, peak = [], [0], [0.0]

        def tracked(stream):  # the length, the peak and a 10 ms peak envelope (plots), in bounded memory
            for block in stream:
                total[0] += block.size
                magnitude = np.abs(block)
                peak[0] = max(peak[0], float(magnitude.max()))
                usable = magnitude[: block.size // P.STFT_HOP_SAMPLES * P.STFT_HOP_SAMPLES]
                envelope.append(usable.reshape(-1, P.STFT_HOP_SAMPLES).max(axis=1))
                yield block

        notes: dict = {}
        deferred = self.input_level != "none"  # the gain needs the whole file's peak: keep the log-mel till then
        try:
            chunks, silent = [], []
            for examples in examples_in_chunks(tracked(blocks), notes=notes):
                sounding = (examples.amax(dim=2) >= SILENCE_LOGMEL).sum(dim=1)  # frames above the floor
                silent.append((sounding < MIN_SOUNDING_FRAMES).numpy())
                chunks.append(examples if deferred else self._features(examples))
            silent = np.concatenate(silent) | np.array(notes.pop("quiet"), bool)
            if silent.all():  # (a file whose peak is below -100 dBFS is quiet in every example)
                raise AudioError("the recording is silent (or holds only a DC offset, faint hiss or clicks shorter "
                                 "than 50 ms); there is nothing to recognise")
        except AudioError as exc:
            message = str(exc)
            raise AudioError(message if message.startswith(source) else f"{source}: {message}") from None
        gain = level_gain(peak[0], self.input_level)
        if deferred:  # chunk by chunk, each log-mel chunk freed once it is features
            chunks = [self._features(apply_gain(chunks.pop(0), gain)) for _ in range(len(chunks))]
        prediction = self._classify(np.concatenate(chunks), silent, source)
        prediction.extra["input_gain_db"] = round(20 * float(np.log10(gain)), 2)
        prediction.extra["envelope"] = np.concatenate(envelope) if envelope else np.zeros(0)
        prediction.extra.update(notes)
        prediction.duration_seconds = total[0] / P.SAMPLE_RATE
        return prediction

    @property
    def representation_steps(self) -> int:
        """Classifier input steps per 0.96 s example (1 for embeddings, 96 for log-mel frames)."""
        return 1 if len(self.representation.output_shape) == 1 else self.representation.output_shape[0]

    def _head_sequence(self, steps: np.ndarray) -> tuple[torch.Tensor, torch.nn.Module, int]:
        """What the attention head pools, (1, T, D), the head, and its steps per example. A CNN embeds each
        example once here (in chunks), so windows and single steps reuse the embeddings."""
        x = torch.from_numpy(np.ascontiguousarray(steps))[None]
        if hasattr(self.classifier, "embed"):
            frames = P.EXAMPLE_FRAMES * 256
            return torch.cat([self.classifier.embed(x[:, i:i + frames]) for i in range(0, x.shape[1], frames)],
                             dim=1), self.classifier.head, 1
        return x, self.classifier, self.representation_steps

    def _classify(self, steps: np.ndarray, silent: np.ndarray, source: str) -> Prediction:
        with torch.inference_mode():
            seq, head, per = self._head_sequence(steps)
            examples = seq.view(-1, per, seq.shape[-1])  # (n, per, D): one example each
            timeline = torch.cat([head(examples[i:i + 512])["probs"] for i in range(0, len(examples), 512)]).numpy()
            heard = examples[torch.from_numpy(~silent)].reshape(1, -1, seq.shape[-1])
            window = WINDOW_EXAMPLES * per
            windows = [head(heard[:, i:i + window])["probs"][0].numpy() for i in range(0, heard.shape[1], window)]
        lengths = np.array([min(window, heard.shape[1] - i) for i in range(0, heard.shape[1], window)]) / per
        timeline[silent] = 0.0
        probs = file_probability(np.stack(windows), lengths, self.file_rule)
        prediction = Prediction(source, self.classes, probs, self.threshold, timeline, trained=self.trained)
        prediction.extra.update(silent=silent, windows=len(windows), file_rule=self.file_rule,
                                window_probs=np.stack(windows), window_examples=lengths)
        return prediction


def level_gain(peak: float, rule: str) -> float:
    """The gain a file whose largest absolute sample is ``peak`` gets under ``rule`` (``LEVEL_RULES``)."""
    if rule not in LEVEL_RULES:
        raise InstrecError(f"input level rule {rule!r}: use one of {', '.join(LEVEL_RULES)}")
    if rule == "none" or peak <= 0:
        return 1.0
    peak_db = 20 * np.log10(peak)
    target = LEVEL_PEAK_DBFS if rule == "fixed" else float(np.clip(peak_db, *PEAK_DBFS))
    return float(10 ** ((target - peak_db) / 20))


def apply_gain(examples: torch.Tensor, gain: float) -> torch.Tensor:
    """Log-mel examples of a signal scaled by ``gain``, from those of the signal: the front end is linear up to
    its log, so log(gain * mel + offset) with mel = exp(x) - offset (in float64, then back)."""
    if gain == 1.0:
        return examples
    mel = torch.exp(examples.double()) - P.LOG_OFFSET
    return torch.log(gain * mel.clamp_min(0.0) + P.LOG_OFFSET).to(examples.dtype)


def file_probability(windows: np.ndarray, examples: np.ndarray, rule: str = FILE_RULE) -> np.ndarray:
    """A file's probability per class from its windows' (w, C), ``examples`` per window: ``max`` (the highest
    window), ``mean`` (weighted by each window's examples, so a short last window counts less), ``top3`` (the
    mean of the three highest windows) or ``top-third`` (the mean of the highest third of the windows, at
    least one: an instrument must be heard in about a third of a recording)."""
    if rule == "max":
        return windows.max(axis=0)
    if rule == "mean":
        return (windows * examples[:, None]).sum(axis=0) / examples.sum()
    if rule == "top3":
        return np.sort(windows, axis=0)[-3:].mean(axis=0)
    if rule == "top-third":
        return np.sort(windows, axis=0)[-max(1, -(-len(windows) // 3)):].mean(axis=0)
    raise InstrecError(f"file rule {rule!r}: use one of {', '.join(FILE_RULES)}")


def best_in_study(study_dir: str | Path) -> Path:
    """The seed-0 (or first) cell of the best row of a study that can run on audio."""
    study_dir = Path(study_dir)
    try:
        results = json.loads((study_dir / "results.json").read_text())
        ranked = sorted((r for r in results["rows"] if r["seeds"] and r["f1_macro"]["mean"] is not None
                         and r["from_audio"]),
                        key=lambda r: -r["f1_macro"]["mean"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InstrecError(f"{study_dir / 'results.json'}: not a readable study result ({type(exc).__name__}: "
                           f"{str(exc)[:120]}); rerun `instrec study` with --out {study_dir} to rewrite it") from None
    for row in ranked:
        cells = sorted((study_dir / "cells" / row["key"]).glob("seed*/best.pt"))
        if cells:
            return cells[0].parent
    raise InstrecError(f"{study_dir}: the study has no trained model yet; let it finish or pass --model RUN_DIR")


SHIPPED = Path(str(resources.files("instrec") / "models" / "default"))  # package data


def load_model(model: str | Path | None = None, threshold: float | None = None, file_rule: str | None = None,
               input_level: str | None = None) -> Model:
    """By default the model shipped with instrec; else an exported model folder, a run folder from ``train``
    or a study cell, or a study folder (its best row). ``input_level`` overrides the model's input-level rule
    (``LEVEL_RULES``)."""
    if model is None:
        if not is_exported(SHIPPED):
            raise InstrecError(f"{SHIPPED}: the shipped model is missing from this installation; reinstall instrec "
                               "or pass --model RUN_OR_STUDY_DIR")
        return Model(SHIPPED, threshold, file_rule, input_level)
    path = Path(model)
    return Model(best_in_study(path) if (path / "results.json").exists() else path, threshold, file_rule, input_level)
