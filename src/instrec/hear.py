"""The HEAR 2021 embedding API, so other evaluation kits can use instrec's networks.

    import instrec.hear as api
    model = api.load_model()                                   # the shipped model's encoder, offline
    emb, timestamps = api.get_timestamp_embeddings(audio, model)   # audio: (n_sounds, n_samples) at 16 kHz
    scene = api.get_scene_embeddings(audio, model)

``load_model()`` with no argument is the shipped model's encoder (the four compact CNNs' 128-d embeddings of a
0.96 s log-mel example, concatenated: 512 values), with the model's own normalisation: it needs no download.
``model_file_path`` may name an exported model folder (its encoder) or a VGGish state dict / stage-1 ``vggish.pt``;
``representation=`` keeps the paper's representations ("vggish-audioset", "vggish-random", "logmel", flattened).

Timestamp embeddings are one per 0.96 s example, an example every ``hop_frames`` 10 ms frames (default 5: every
50 ms, the hop HEAR's event tasks ask for), stamped at the example's centre in milliseconds; audio shorter than
one example is zero-padded to one. Scene embeddings are the mean of the timestamp embeddings.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from instrec import params as P
from instrec.frontend import LogMelExamples

HOP_FRAMES = 5  # 50 ms


class HearModel(nn.Module):
    """``embed(examples (n, 96, 64)) -> (n, size)``, and the HEAR attributes."""

    sample_rate = P.SAMPLE_RATE

    def __init__(self, embed, size: int, hop_frames: int = HOP_FRAMES, level_rule: str = "none") -> None:
        super().__init__()
        if not 1 <= hop_frames <= P.EXAMPLE_FRAMES:
            raise ValueError(f"hop_frames {hop_frames}: must be from 1 to {P.EXAMPLE_FRAMES}")
        self.embed = embed
        self.level_rule = level_rule  # an exported model's input level, applied per sound as predict applies it
        self.frontend = LogMelExamples(hop_frames)
        self.hop_frames = hop_frames
        self.scene_embedding_size = self.timestamp_embedding_size = size


def _representation_model(rep, hop_frames: int) -> HearModel:
    def embed(examples: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(rep.embed(examples))).float().reshape(len(examples), -1)
    return HearModel(embed, math.prod(rep.output_shape), hop_frames)


def _encoder_model(folder: str | Path | None, hop_frames: int) -> HearModel:
    """An exported model's encoder: the log-mel examples normalised as the model reads them, then its CNNs'
    embeddings (an ensemble's concatenated)."""
    from instrec.convnet import without_probe
    from instrec.predict import load_model

    model = load_model(folder)
    if not hasattr(model.classifier, "embed"):
        raise ValueError(f"{model.run}: not a compact-CNN model; its classifier has no encoder to embed with")
    networks = without_probe(model.classifier)  # the networks' embeddings (a probe may read more beside them)

    def embed(examples: torch.Tensor) -> torch.Tensor:
        steps = torch.from_numpy(np.ascontiguousarray(model._features(examples)))[None]  # (1, n * 96, 64)
        return networks.embed(steps)[0].float()

    with torch.inference_mode():
        size = embed(torch.zeros(1, P.EXAMPLE_FRAMES, P.NUM_MEL_BANDS)).shape[-1]
    return HearModel(embed, int(size), hop_frames, model.input_level)


def load_model(model_file_path: str = "", representation: str | None = None,
               hop_frames: int = HOP_FRAMES) -> HearModel:
    """The shipped model's encoder (no arguments), an exported model folder's, a VGGish checkpoint, or one of the
    paper's ``representation``s by name."""
    from instrec.representations.registry import build_representation

    if representation is not None:
        return _representation_model(build_representation(representation, postprocess="none"), hop_frames)
    if not model_file_path:
        return _encoder_model(None, hop_frames)
    path = Path(model_file_path)
    if path.is_dir():
        return _encoder_model(path, hop_frames)
    return _representation_model(build_representation(f"vggish:{path}", postprocess="none"), hop_frames)


def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """audio (n_sounds, n_samples) at 16 kHz -> embeddings (n_sounds, n_steps, size), timestamps (n_sounds,
    n_steps) in ms."""
    with torch.inference_mode():
        sounds = audio.detach().cpu().float()
        examples = model.frontend(sounds)  # (n_sounds, n_steps, 96, 64)
        if model.level_rule != "none":
            from instrec.predict import apply_gain, level_gain

            examples = torch.stack([apply_gain(e, level_gain(float(x.abs().max()), model.level_rule))
                                    for e, x in zip(examples, sounds)])
        n, steps = examples.shape[:2]
        flat = examples.reshape(-1, P.EXAMPLE_FRAMES, P.NUM_MEL_BANDS)
        emb = torch.cat([model.embed(flat[i:i + 512]) for i in range(0, len(flat), 512)]).reshape(n, steps, -1)
    hop_s = model.hop_frames * P.STFT_HOP_SAMPLES / P.SAMPLE_RATE
    centres = (torch.arange(steps) * hop_s + P.EXAMPLE_SECONDS / 2) * 1000.0
    return emb.to(audio.device), centres.expand(n, steps).clone().to(audio.device)


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """audio (n_sounds, n_samples) -> (n_sounds, size): the mean of the timestamp embeddings."""
    return get_timestamp_embeddings(audio, model)[0].mean(dim=1)
