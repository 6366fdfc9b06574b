"""The HEAR 2021 embedding API for instrec's representations, so other evaluation kits can use them.

    import instrec.hear as api
    model = api.load_model("vggish-audioset")          # or "logmel", "vggish-random", a vggish.pt path
    emb, timestamps = api.get_timestamp_embeddings(audio, model)   # audio: (n_sounds, n_samples) at 16 kHz
    scene = api.get_scene_embeddings(audio, model)

Timestamp embeddings are one per 0.96 s example (``hop_frames`` sets a finer hop), stamped at the
example's centre in milliseconds; scene embeddings are their mean. Log-mel examples are flattened.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from instrec import params as P
from instrec.frontend import LogMelExamples


class HearModel(nn.Module):
    sample_rate = P.SAMPLE_RATE

    def __init__(self, representation, hop_frames: int = P.EXAMPLE_HOP_FRAMES) -> None:
        super().__init__()
        self.representation = representation
        self.frontend = LogMelExamples(hop_frames)
        self.hop_frames = hop_frames
        self.scene_embedding_size = self.timestamp_embedding_size = math.prod(representation.output_shape)


def load_model(model_file_path: str = "", representation: str = "vggish-audioset", hop_frames: int = 96) -> HearModel:
    """``model_file_path``: a VGGish state dict or stage-1 ``vggish.pt`` (empty: ``representation`` by name)."""
    from instrec.representations.registry import build_representation

    if model_file_path:
        rep = build_representation(f"vggish:{Path(model_file_path)}", postprocess="none")
    else:
        rep = build_representation(representation, postprocess="none")
    return HearModel(rep, hop_frames)


def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """audio (n_sounds, n_samples) at 16 kHz -> embeddings (n_sounds, n_steps, size), timestamps (n_sounds, n_steps) in ms."""
    with torch.inference_mode():
        examples = model.frontend(audio.float())  # (n_sounds, n_steps, 96, 64)
        n, steps = examples.shape[:2]
        emb = torch.from_numpy(model.representation.embed(examples.reshape(-1, 96, 64))).float().reshape(n, steps, -1)
    hop_s = model.hop_frames * P.STFT_HOP_SAMPLES / P.SAMPLE_RATE
    centres = (torch.arange(steps) * hop_s + P.EXAMPLE_SECONDS / 2) * 1000.0
    return emb, centres.expand(n, steps).clone()


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """audio (n_sounds, n_samples) -> (n_sounds, size): the mean of the timestamp embeddings."""
    return get_timestamp_embeddings(audio, model)[0].mean(dim=1)
