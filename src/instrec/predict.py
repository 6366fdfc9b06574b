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
    floor: float | None = None  # where no class reaches the threshold, the first is reported down to this (decide)
    alone: float | None = None  # a gated model's file probability that one real instrument plays alone

    def __post_init__(self) -> None:
        if self.trained is None:
            self.trained = np.ones(len(self.classes), bool)

    @property
    def present(self) -> np.ndarray:
        return decide(self.probs, self.threshold, self.trained, self.floor,
                      self.alone is None or self.alone >= FLOOR_GATE)

    def instruments(self) -> list[tuple[str, float]]:
        """The instruments judged present, most probable first."""
        order, present = np.argsort(-self.probs), self.present  # (decided once, not once per class)
        return [(self.classes[i], float(self.probs[i])) for i in order if present[i]]

    def to_dict(self) -> dict:
        return {"file": self.source, "duration_seconds": round(self.duration_seconds, 3), "threshold": self.threshold,
                **({"floor": self.floor} if self.floor is not None else {}),
                **({"alone": round(float(self.alone), 4)} if self.alone is not None else {}),
                "probabilities": {c: round(float(p), 4) if ok else None for c, p, ok in zip(self.classes, self.probs, self.trained)},
                "present": [c for c, _ in self.instruments()], "step_seconds": self.step_seconds,
                "activity": {c: [round(float(a), 4) for a in self.activity[:, i]] if ok else None
                             for i, (c, ok) in enumerate(zip(self.classes, self.trained))},
                "silent_steps": [int(i) for i in np.flatnonzero(self.extra.get("silent", []))],
                "padded_from_seconds": self.extra.get("padded_from_seconds"),
                "input_gain_db": self.extra.get("input_gain_db")}


def stream_audio(path: str | Path, block_seconds: float = BLOCK_SECONDS):
    """Yield mono float32 blocks at 16 kHz from any file soundfile reads, in bounded memory.

    A file at another rate is resampled one stretch of sound at a time: digital silence before the first sound, or
    ``GAP_SAMPLES`` (0.96 s) or more of it inside the file, becomes exact zeros at 16 kHz, and the resampler starts
    afresh at the next sound. So the 16 kHz samples of a stretch of sound do not depend on the silence before it
    (the resampler's grid would otherwise fall between its samples differently for each length of silence)."""
    path = check_audio_path(path)
    try:
        handle = sf.SoundFile(str(path))
    except DECODE_ERRORS as exc:
        raise unreadable(path, exc) from None
    with handle:
        rate = handle.samplerate
        stretches = _Stretches(rate) if rate != P.SAMPLE_RATE else None
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
            for out in (stretches.feed(mono, last) if stretches else [mono]):
                if out.size:
                    yield out
            if last:
                return


class _Stretches:
    """Resample a stream to 16 kHz one stretch of sound at a time (see :func:`stream_audio`)."""

    def __init__(self, rate: int) -> None:
        self.rate, self.ratio = rate, P.SAMPLE_RATE / rate
        self.gap = int(round(GAP_SAMPLES / self.ratio))  # GAP_SAMPLES of silence, at the file's rate
        self.resampler = None  # while in a stretch
        self.position = 0  # samples of the file read
        self.emitted = 0  # samples yielded at 16 kHz
        self.quiet = 0  # samples since the last loud one, in a stretch

    def _zeros_to(self, position: int):
        count = int(round(position * self.ratio)) - self.emitted
        while count > 0:
            step = min(count, P.SAMPLE_RATE * 60)
            self.emitted += step
            count -= step
            yield np.zeros(step, np.float32)

    def _resample(self, samples: np.ndarray, last: bool):
        out = self.resampler.resample_chunk(samples, last=last)
        self.emitted += out.size
        yield out

    def feed(self, block: np.ndarray, last: bool):
        loud = np.flatnonzero(np.abs(block) >= QUIET_PEAK)
        cursor = 0
        while cursor < block.size:
            if self.resampler is None:  # silence: skip to the next sound
                later = loud[loud >= cursor]
                if not later.size:
                    break
                cursor = int(later[0])
                yield from self._zeros_to(self.position + cursor)
                self.resampler = soxr.ResampleStream(self.rate, P.SAMPLE_RATE, 1, dtype="float32", quality="HQ")
                self.quiet = 0
            later = loud[loud >= cursor]
            # the stretch ends where a run of ``gap`` quiet samples is complete
            prev = np.concatenate([[cursor - 1 - self.quiet], later])
            runs = np.diff(np.concatenate([prev, [block.size]])) - 1  # quiet samples after each loud one
            long = np.flatnonzero(runs >= self.gap)
            if not long.size:
                self.quiet = int(runs[-1]) if later.size else self.quiet + block.size - cursor
                yield from self._resample(block[cursor:], last=False)
                cursor = block.size
                break
            end = int(prev[long[0]]) + 1 + self.gap  # feed the silence up to the gap's length, then close
            yield from self._resample(block[cursor:end], last=True)
            self.resampler = None
            cursor = end
        self.position += block.size
        if last:
            if self.resampler is not None:
                yield from self._resample(np.zeros(0, np.float32), last=True)
                self.resampler = None
            yield from self._zeros_to(self.position)


def _is_quiet(samples: np.ndarray) -> bool:
    return samples.size == 0 or float(np.max(np.abs(samples - samples.mean()))) < QUIET_PEAK


PHASES = 1  # each segment is framed this many times, an example every 0.96 s / PHASES
PHASE_SAMPLES = EXAMPLE_SAMPLES // PHASES  # 3,840 samples (24 frames): where the next framing starts
GAP_SAMPLES = EXAMPLE_SAMPLES  # digital silence this long inside a file splits it into segments


def examples_in_chunks(blocks, chunk_examples: int = 64, notes: dict | None = None):
    """Log-mel examples (n, 96, 64) from a stream of 16 kHz blocks, placed so that digital silence cannot move them.

    The file's sound is cut into **segments** at digital silence (samples below ``QUIET_PEAK``): silence before the
    first and after the last loud sample belongs to no segment, nor does a run of at least ``GAP_SAMPLES`` inside
    the file. Each segment is framed from its own first sample, ``PHASES`` times (an example starts every
    ``PHASE_SAMPLES``; the log-mel frames are computed once), with only examples that lie wholly within it; a
    segment shorter than one example is zero-padded to one. So silence before, after or between the music, and
    where the music lies in the file, leave its examples unchanged. The result equals framing each segment at once,
    whatever the blocks (``chunk_examples`` examples of each phase at a time; the buffer stays under a chunk plus
    ``GAP_SAMPLES`` plus a block).

    ``notes`` collects per example: ``quiet`` (its real samples, not the file's first and last
    ``QUIET_EDGE_SAMPLES``, stay within +-``QUIET_PEAK`` of their mean: silence, a DC offset or faint hiss),
    ``start`` (its first sample in the file), ``phase`` and ``segment``; and ``padded_from_seconds`` for a file
    shorter than one example."""
    frontend = LogMelExamples(hop_frames=P.EXAMPLE_HOP_FRAMES // PHASES)
    per_chunk = chunk_examples * PHASES
    take = P.MIN_EXAMPLE_SAMPLES + (per_chunk - 1) * PHASE_SAMPLES
    notes = {} if notes is None else notes
    for key in ("quiet", "start", "phase", "segment"):
        notes.setdefault(key, [])
    total = 0  # samples received
    segment = -1
    seg = None  # the current segment: its first sample, its buffer (from ``at``), its last loud sample, examples made

    def emit(samples: np.ndarray, first_abs: int, first_index: int, real: int, file_end: int | None):
        """Examples of ``samples`` (starting at file sample ``first_abs``, example number ``first_index`` of the
        segment); ``real`` samples are the file's (the rest is padding); ``file_end`` where the file is known to end
        within reach of them."""
        with torch.inference_mode():
            examples = frontend(torch.from_numpy(np.ascontiguousarray(samples)))
        lo = max(0, QUIET_EDGE_SAMPLES - first_abs)
        hi = real if file_end is None else min(real, file_end - QUIET_EDGE_SAMPLES - first_abs)
        for k in range(len(examples)):
            s = k * PHASE_SAMPLES
            notes["quiet"].append(_is_quiet(samples[max(s, lo):min(s + P.MIN_EXAMPLE_SAMPLES, hi)]))
            notes["start"].append(first_abs + s)
            notes["phase"].append((first_index + k) % PHASES)
            notes["segment"].append(segment)
        return examples

    def ready(closing: bool, file_end: int | None = None):
        """The current segment's examples that are known to lie within it: whole chunks mid-segment, everything
        that fits once it is ``closing`` (``file_end``: the file ends with it)."""
        start, end = seg["start"], seg["last_loud"] + 1
        while True:
            first = start + seg["made"] * PHASE_SAMPLES  # the next example's first sample
            if not closing:  # a whole chunk, inside the segment, and not within the file's last samples
                if first + take > end or first + take + QUIET_EDGE_SAMPLES > total:
                    return
                n = per_chunk
            else:
                n = min(per_chunk, max(0, (end - first - P.MIN_EXAMPLE_SAMPLES) // PHASE_SAMPLES + 1))
            if n == 0:
                if closing and seg["made"] == 0:  # a segment shorter than one example: zero-padded to one
                    padded = np.zeros(P.MIN_EXAMPLE_SAMPLES, np.float32)
                    padded[:end - start] = seg["buffer"][start - seg["at"]:end - seg["at"]]
                    seg["made"] = 1
                    yield emit(padded, start, 0, end - start, file_end)
                return
            stop = first + P.MIN_EXAMPLE_SAMPLES + (n - 1) * PHASE_SAMPLES
            yield emit(seg["buffer"][first - seg["at"]:stop - seg["at"]], first, seg["made"], stop - first, file_end)
            seg["made"] += n
            done = start + seg["made"] * PHASE_SAMPLES - seg["at"]  # samples before the next example
            seg["buffer"], seg["at"] = seg["buffer"][done:], seg["at"] + done

    for block in blocks:
        offset = total
        total += block.size
        loud = offset + np.flatnonzero(np.abs(block) >= QUIET_PEAK)  # positions in the file
        cursor = offset  # the file position from which the block is not yet given to a segment
        while True:
            later = loud[loud >= cursor]
            if seg is None:
                if not later.size:
                    break
                segment += 1
                seg = {"start": int(later[0]), "at": int(later[0]), "buffer": block[later[0] - offset:].copy(),
                       "last_loud": int(later[0]), "made": 0}
            else:
                seg["buffer"] = np.concatenate([seg["buffer"], block[cursor - offset:]])
            cursor = total
            # a run of GAP_SAMPLES of silence between two loud samples ends the segment; the next one starts after
            prev = np.concatenate([[seg["last_loud"]], later[:-1]])
            gaps = np.flatnonzero(later - prev - 1 >= GAP_SAMPLES)
            if gaps.size:
                seg["last_loud"] = int(prev[gaps[0]])
                yield from ready(closing=True)
                seg, cursor = None, int(later[gaps[0]])
                continue
            if later.size:
                seg["last_loud"] = int(later[-1])
            if total - 1 - seg["last_loud"] >= GAP_SAMPLES:  # silence to the block's end, long enough
                yield from ready(closing=True)
                seg = None
            else:
                yield from ready(closing=False)
            break
    if total == 0:
        raise AudioError("holds no audio samples; give a recording")
    if seg is not None:
        yield from ready(closing=True, file_end=total)
    if total < EXAMPLE_SAMPLES:  # a file of exactly 0.96 s is one example (its last window just needs 15 ms)
        notes["padded_from_seconds"] = total / P.SAMPLE_RATE


class Model:
    """A trained run, ready to recognise instruments in recordings."""

    def __init__(self, run: str | Path, threshold: float | None = None, file_rule: str | None = None,
                 input_level: str | None = None, floor: float | None = None) -> None:
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
        # the model's own floor (an export records the one chosen for it; none before), or the one asked for; at or
        # above the threshold it changes nothing
        self.floor = bundle.get("floor") if floor is None else floor
        if self.floor is not None and self.floor >= self.threshold:
            self.floor = None
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
        reading = self.read(audio, sample_rate)
        prediction = self._classify(reading.steps, reading.silent, reading.source, reading.placed, reading.total)
        prediction.extra["input_gain_db"] = round(20 * float(np.log10(reading.gain)), 2)
        prediction.extra["envelope"] = reading.envelope
        prediction.extra.update(reading.notes)
        prediction.duration_seconds = reading.total / P.SAMPLE_RATE
        return prediction

    def read(self, audio: str | Path | np.ndarray, sample_rate: int | None = None) -> "Reading":
        """A file or waveform as the classifier reads it: its examples placed (:func:`examples_in_chunks`), which
        are silent, its level set by the input-level rule, as classifier steps."""
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
            silent = (np.concatenate(silent) if silent else np.zeros(0, bool)) | np.array(notes.pop("quiet"), bool)
            if silent.all():  # (a file whose peak is below -100 dBFS is quiet in every example)
                raise AudioError("the recording is silent (or holds only a DC offset, faint hiss or clicks shorter "
                                 "than 50 ms); there is nothing to recognise")
        except AudioError as exc:
            message = str(exc)
            raise AudioError(message if message.startswith(source) else f"{source}: {message}") from None
        gain = level_gain(peak[0], self.input_level)
        if deferred:  # chunk by chunk, each log-mel chunk freed once it is features
            chunks = [self._features(apply_gain(chunks.pop(0), gain)) for _ in range(len(chunks))]
        placed = {key: np.array(notes.pop(key)) for key in ("start", "phase", "segment")}
        return Reading(source, np.concatenate(chunks), silent, placed, total[0], gain,
                       np.concatenate(envelope) if envelope else np.zeros(0), notes)

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

    def _classify(self, steps: np.ndarray, silent: np.ndarray, source: str, placed: dict, total: int) -> Prediction:
        """The file's probabilities from its examples (placed by :func:`examples_in_chunks`): each segment's heard
        examples in :func:`windows` of ``WINDOW_EXAMPLES``, the file rule over the windows of all segments (per phase,
        then the mean over the phases); and the timeline on the file's 0.96 s grid (:func:`timeline`)."""
        with torch.inference_mode():
            seq, head, per = self._head_sequence(steps)
            examples = seq.view(-1, per, seq.shape[-1])  # (n, per, D): one example each
            # each example alone (the timeline): a probed model's networks answer, its probe and gate being fitted
            # and measured on windows (convnet.Probed.step_head)
            step = getattr(self.classifier, "step_head", head)
            alone = torch.cat([step(examples[i:i + 512])["probs"] for i in range(0, len(examples), 512)]).numpy()
            heard = ~silent
            window_probs, window_gate, window_lengths, window_phase = [], [], [], []
            for phase, length, part in window_parts(examples, silent, placed):
                out = head(part)
                window_probs.append(out["probs"][0].numpy())
                if "alone" in out:  # a gated probe's gate: one real instrument alone in the window
                    window_gate.append(out["alone"][0].numpy())
                window_lengths.append(length)
                window_phase.append(phase)
        window_probs, window_lengths = np.stack(window_probs), np.array(window_lengths, float)
        window_phase = np.array(window_phase)
        probs = file_probability(window_probs, window_lengths, self.file_rule, window_phase)
        gate = float(file_probability(np.stack(window_gate), window_lengths, self.file_rule, window_phase)[0]) \
            if window_gate else None
        activity, silent_steps = timeline(alone, heard, placed["start"], total)
        prediction = Prediction(source, self.classes, probs, self.threshold, activity, trained=self.trained,
                                floor=self.floor, alone=gate)
        prediction.extra.update(silent=silent_steps, windows=len(window_probs), file_rule=self.file_rule,
                                window_probs=window_probs, window_examples=window_lengths, window_phase=window_phase,
                                segments=int(placed["segment"].max()) + 1)
        return prediction


@dataclass
class Reading:
    """What :meth:`Model.read` makes of a file: classifier ``steps`` of every example, which are ``silent``,
    where each lies (``placed``: start, phase, segment), the length in 16 kHz samples, the gain applied, the 10 ms
    peak envelope and the other notes of the reading."""

    source: str
    steps: np.ndarray
    silent: np.ndarray
    placed: dict
    total: int
    gain: float
    envelope: np.ndarray
    notes: dict


def heard_runs(silent: np.ndarray, placed: dict) -> list[tuple[int, np.ndarray]]:
    """(phase, indices) of each stretch of sound's heard examples, in order: what windows are cut from (examples
    come segment by segment, so a stretch's are consecutive)."""
    runs = []
    for phase in np.unique(placed["phase"][~silent]):
        chosen = np.flatnonzero(~silent & (placed["phase"] == phase))
        breaks = np.flatnonzero(np.diff(placed["segment"][chosen])) + 1
        runs += [(int(phase), part) for part in np.split(chosen, breaks)]
    return runs


def window_parts(examples: torch.Tensor, silent: np.ndarray, placed: dict):
    """The windows a file is judged by, from its examples' rows (n, per, D): each stretch of sound's heard examples
    (:func:`heard_runs`; a stretch is judged on its own) cut into :func:`windows`. Yields (phase, heard examples in
    the window, the window's rows as one sequence (1, examples x per, D))."""
    per, size = examples.shape[1], examples.shape[-1]
    for phase, chosen in heard_runs(silent, placed):
        run = examples[torch.from_numpy(chosen)].reshape(1, -1, size)
        for a, b in windows(len(chosen)):
            yield phase, b - a, run[:, a * per:b * per]


def windows(n: int) -> list[tuple[int, int]]:
    """Windows of ``WINDOW_EXAMPLES`` consecutive examples over ``n``: one of all n if n is no more, else
    ceil(n / 10) windows of exactly 10, evenly spaced from the first example to the last (overlapping where n is
    not a multiple of 10), so every window is as long as the clips the classifier was trained on."""
    if n <= WINDOW_EXAMPLES:
        return [(0, n)]
    count = -(-n // WINDOW_EXAMPLES)
    starts = np.round(np.linspace(0, n - WINDOW_EXAMPLES, count)).astype(int)
    return [(int(a), int(a) + WINDOW_EXAMPLES) for a in starts]


def timeline(alone: np.ndarray, heard: np.ndarray, starts: np.ndarray, total: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps, C) activity on the file's 0.96 s grid and the silent steps: a step's value is the mean of the
    probabilities the classifier gives the heard examples centred in it, each alone; a step without one is silent
    (0). The grid has as many steps as framing the whole file from its first sample gives."""
    steps = max(1, (total - P.MIN_EXAMPLE_SAMPLES) // EXAMPLE_SAMPLES + 1)
    step = np.minimum((starts + P.MIN_EXAMPLE_SAMPLES // 2) // EXAMPLE_SAMPLES, steps - 1)[heard]
    sums = np.zeros((steps, alone.shape[1]))
    np.add.at(sums, step, alone[heard])
    counts = np.bincount(step, minlength=steps)
    activity = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], 0.0).astype(np.float32)
    return activity, counts == 0


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


# a gated model reports a file's first class down to its floor only where the gate hears one instrument alone
# (docs/experiments/2026-12-07-top-class-floor.md, candidate 38g)
FLOOR_GATE = 0.5


def decide(probs: np.ndarray, threshold: float, trained: np.ndarray, floor: float | None = None,
           open_: np.ndarray | bool = True) -> np.ndarray:
    """Which classes a file's probabilities ``probs`` (classes,) or (files, classes) report: every class the model
    learned (``trained``) at or above ``threshold``; with a ``floor``, where none is and the file is ``open_`` (per
    file: a gate heard one instrument alone), also the most probable learned class if it is at least ``floor``."""
    probs = np.asarray(probs)
    present = (probs >= threshold) & trained
    if floor is None:
        return present
    learned = np.where(trained, probs, -np.inf)
    first = np.asarray(np.argmax(learned, axis=-1))
    add = ~present.any(axis=-1) & (learned.max(axis=-1) >= floor) & np.asarray(open_, bool)
    return present | ((np.arange(probs.shape[-1]) == first[..., None]) & np.asarray(add)[..., None])


def file_probability(windows: np.ndarray, examples: np.ndarray, rule: str = FILE_RULE,
                     phases: np.ndarray | None = None) -> np.ndarray:
    """A file's probability per class from its windows' (w, C), ``examples`` per window: ``max`` (the highest
    window), ``mean`` (weighted by each window's examples), ``top3`` (the mean of the three highest windows) or
    ``top-third`` (the mean of the highest third of the windows, at least one: an instrument must be heard in about
    a third of a recording). With ``phases`` (w,), the rule is applied to each phase's windows and the phases'
    results are averaged."""
    if phases is not None:
        return np.mean([file_probability(windows[phases == p], examples[phases == p], rule)
                        for p in np.unique(phases)], axis=0)
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
               input_level: str | None = None, floor: float | None = None) -> Model:
    """By default the model shipped with instrec; else an exported model folder, a run folder from ``train``
    or a study cell, or a study folder (its best row). ``input_level`` overrides the model's input-level rule
    (``LEVEL_RULES``)."""
    if model is None:
        if not is_exported(SHIPPED):
            raise InstrecError(f"{SHIPPED}: the shipped model is missing from this installation; reinstall instrec "
                               "or pass --model RUN_OR_STUDY_DIR")
        return Model(SHIPPED, threshold, file_rule, input_level, floor)
    path = Path(model)
    return Model(best_in_study(path) if (path / "results.json").exists() else path, threshold, file_rule, input_level,
                 floor)
