"""Audio input: decode with soundfile, downmix to mono, resample to 16 kHz with soxr.

The VGGish reference does not peak-normalise; the OpenMIC feature script did, so
``peak_normalize=True`` is available to reproduce the released OpenMIC features.
"""

from __future__ import annotations

import os
import struct
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from instrec.errors import AudioError
from instrec.params import SAMPLE_RATE

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au", ".opus")


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(n,) or (n, channels) -> (n,): the mean of the channels, as the reference does."""
    if samples.ndim == 1:
        return samples
    return samples.mean(axis=1, dtype=np.float32)


def resample(samples: np.ndarray, source_rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a mono float32 signal with soxr (high quality); a no-op at the same rate."""
    if source_rate == target_rate:
        return np.asarray(samples, dtype=np.float32)
    return soxr.resample(samples, source_rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def check_samples(samples: np.ndarray, path: str) -> None:
    if samples.size == 0:
        raise AudioError(f"{path}: the file holds no audio samples; export it again with some audio in it")
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"{path}: the audio contains NaN or infinite samples; re-export it as 16-bit PCM")


def peak_normalise(samples: np.ndarray) -> np.ndarray:
    """Scale so that the largest absolute sample is 1 (silence stays silence)."""
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    return samples / peak if peak > 0 else samples


DECODE_ERRORS = (sf.LibsndfileError, RuntimeError, ValueError, EOFError)


def check_audio_path(path: str | Path) -> Path:
    """The path, if it names a non-empty file; else an :class:`AudioError` saying what is wrong."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file; give a file (or use a command that takes folders)")
    if not path.is_file():
        raise AudioError(f"{path}: not a regular file (a pipe, device or socket); save the audio to a file and give "
                         "that")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes); replace it with a complete copy")
    if not os.access(path, os.R_OK):
        raise AudioError(f"{path}: permission denied; make the file readable (chmod u+r) or copy it")
    return path


class TruncatedAudioWarning(UserWarning):
    """The file ends before its header says it should: decoded as far as it goes, and reported."""


def truncation(path: Path) -> str | None:
    """Why ``path`` looks cut short, from its container, or None: a WAV whose data chunk promises more bytes
    than the file holds, an Ogg stream whose last page is not marked end-of-stream."""
    suffix = path.suffix.lower()
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
            size = path.stat().st_size
            if suffix == ".wav" and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
                at = 12
                while at + 8 <= len(head):
                    chunk, length = head[at:at + 4], struct.unpack("<I", head[at + 4:at + 8])[0]
                    if chunk == b"data":
                        missing = at + 8 + length - size
                        return f"the data chunk promises {missing} more bytes than the file holds" if missing > 0 \
                            and length != 0xFFFFFFFF else None
                    at += 8 + length + (length & 1)
            if suffix in (".ogg", ".oga", ".opus") and head[:4] == b"OggS":
                f.seek(max(0, size - (1 << 16)))
                tail = f.read()
                last = tail.rfind(b"OggS")
                if last >= 0 and last + 5 < len(tail) and not tail[last + 5] & 0x04:
                    return "its last Ogg page is not marked as the end of the stream"
    except OSError:
        return None
    return None


def warn_if_truncated(path: Path, frames_expected: int | None = None, frames_read: int | None = None) -> None:
    why = truncation(path)
    if why is None and frames_expected and frames_read is not None and frames_read < frames_expected:
        why = f"its header promises {frames_expected} frames, {frames_read} could be decoded"
    if why:
        warnings.warn(f"{path}: truncated ({why}); using the audio up to where it ends; replace it with a complete "
                      "copy", TruncatedAudioWarning, stacklevel=3)


def unreadable(path: Path, exc: BaseException) -> AudioError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return AudioError(f"{path}: not a readable audio file ({reason}); convert it to wav, flac, ogg or mp3")


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE, peak_normalize: bool = False) -> np.ndarray:
    """Read any file soundfile decodes (wav, flac, ogg, mp3...) as mono float32 in [-1, 1] at ``sample_rate``.

    Raises :class:`AudioError` with a one-line message naming the file for a missing, empty,
    undecodable file or one with NaN samples.
    """
    path = check_audio_path(path)
    try:
        with sf.SoundFile(str(path)) as handle:
            expected, source_rate = handle.frames, handle.samplerate
            samples = handle.read(dtype="float32", always_2d=False)
    except DECODE_ERRORS as exc:
        raise unreadable(path, exc) from None
    warn_if_truncated(path, expected, len(samples))
    check_samples(samples, str(path))
    samples = resample(to_mono(samples), source_rate, sample_rate)
    if peak_normalize:
        samples = peak_normalise(samples)
    return samples


def check_waveform(samples: np.ndarray, name: str = "waveform") -> np.ndarray:
    """Validate an in-memory waveform the same way files are validated; returns float32 mono."""
    samples = np.asarray(samples, dtype=np.float32)
    check_samples(samples, name)
    return to_mono(samples)


def find_audio_files(paths: list[str | Path]) -> list[Path]:
    """Expand files and folders (recursively, sorted) into a list of audio files."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in AUDIO_SUFFIXES))
        else:
            found.append(p)
    return found
