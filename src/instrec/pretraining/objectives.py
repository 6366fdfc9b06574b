"""The heads and losses of the stage-1 objectives (paper section 4.1; reference.md section 6)."""

from __future__ import annotations

import torch
from torch import nn

from instrec import params as P


class TextualHead(nn.Module):
    """VGGish embedding -> BatchNorm -> FC (tanh) -> FC, predicting a word vector (paper: 300 units;
    here the units follow the word-vector size, 50 for the default GloVe vectors)."""

    def __init__(self, vector_size: int, embedding_size: int = P.EMBEDDING_SIZE) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.BatchNorm1d(embedding_size), nn.Linear(embedding_size, vector_size), nn.Tanh(),
                                 nn.Linear(vector_size, vector_size))

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """embedding (N, 128) -> predicted word vector (N, vector_size)."""
        return self.net(embedding)


def textual_loss(predicted: torch.Tensor, target: torch.Tensor, margin: float = 0.5) -> torch.Tensor:
    """Cosine embedding loss (torch semantics, margin 0.5): every prediction is pulled towards its own target
    (y = 1: 1 - cos) and pushed from the target of the next example in the batch where that differs
    (y = -1: max(0, cos - margin)). Without negatives the margin would have no effect."""
    loss = nn.CosineEmbeddingLoss(margin=margin, reduction="none")
    ones = torch.ones(len(predicted), device=predicted.device)
    positive = loss(predicted, target, ones)
    other = target.roll(1, dims=0)
    differs = (other - target).abs().sum(dim=1) > 1e-6
    negative = loss(predicted, other, -ones) * differs
    return (positive.sum() + negative.sum()) / (len(predicted) + differs.sum())


class DenoisingDecoder(nn.Module):
    """The 128-d embedding as 128 channels x 1 step, up-sampled by four transposed Conv1d layers (no padding)
    of {128, 64, 64, 64} kernels of sizes {10, 21, 31, 37}: 1 -> 10 -> 30 -> 60 -> 96 frames of 64 mel bands;
    leaky ReLU slopes 0.1, 0.25, 0.5, last layer linear."""

    def __init__(self, embedding_size: int = P.EMBEDDING_SIZE) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.ConvTranspose1d(embedding_size, 128, 10), nn.LeakyReLU(0.1),
            nn.ConvTranspose1d(128, 64, 21), nn.LeakyReLU(0.25),
            nn.ConvTranspose1d(64, 64, 31), nn.LeakyReLU(0.5),
            nn.ConvTranspose1d(64, P.NUM_MEL_BANDS, 37),
        )

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """embedding (N, 128) -> reconstructed log-mel (N, 96, 64)."""
        return self.layers(embedding.unsqueeze(2)).transpose(1, 2)


def corrupt(log_mel: torch.Tensor, kind: str, noise_std: float = 0.1, keep_probability: float = 0.5,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Additive N(0, std^2) noise or multiplication by a Bernoulli(p) mask, element-wise (drawn on the CPU
    from ``generator`` when given, so validation noise is the same every epoch)."""
    if kind == "additive":
        noise = torch.randn(log_mel.shape, generator=generator, device="cpu" if generator else log_mel.device)
        return log_mel + noise_std * noise.to(log_mel.device, log_mel.dtype)
    if kind == "multiplicative":
        draw = torch.rand(log_mel.shape, generator=generator, device="cpu" if generator else log_mel.device)
        return log_mel * (draw < keep_probability).to(log_mel.device, log_mel.dtype)
    raise ValueError(f"corruption must be 'additive' or 'multiplicative', not {kind!r}")


class TagEncoder(nn.Module):
    """COALA's tag encoder: multi-hot tags -> 512 -> 512 -> 1152 (each BatchNorm, ReLU, dropout 0.25) -> linear 1152."""

    def __init__(self, vocabulary_size: int, size: int = 1152, dropout: float = 0.25) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = vocabulary_size
        for out in (512, 512, size):
            layers += [nn.Linear(width, out), nn.BatchNorm1d(out), nn.ReLU(), nn.Dropout(dropout)]
            width = out
        layers.append(nn.Linear(size, size))
        self.net = nn.Sequential(*layers)

    def forward(self, tags: torch.Tensor) -> torch.Tensor:
        """tags (N, vocabulary) multi-hot -> (N, 1152)."""
        return self.net(tags)


def nt_xent(audio: torch.Tensor, tags: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """NT-Xent over the 2N batch: cosine similarities / temperature, each item's positive is its pair."""
    z = nn.functional.normalize(torch.cat([audio, tags]), dim=1)
    similarity = z @ z.T / temperature
    n = len(audio)
    similarity = similarity.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return nn.functional.cross_entropy(similarity, positives)
