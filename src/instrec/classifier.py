"""The attention classifier of Gururani, Sharma & Lerch (ISMIR 2019) in the paper's variant (section 2.3),
with the reference AttentionMIC variant as an option.

Input: a sequence of T feature vectors per clip, (batch, T, D). VGGish embeddings give T = 10 steps
of D = 128; the log-mel is presented as its frames, T = 10 x 96 = 960 steps of D = 64 mel bands
(a 1x1 convolution over time is a per-frame linear map, so this is the log-mel counterpart of the
embedding sequence; the residual is taken through a 1x1 projection when D != 128).

``paper``: three 1x1 convs of 128 kernels (ReLU between), one group normalisation, a residual from the
(post-processed) representation, then attention: two 1x1 convs of C kernels, both sigmoid; the
attention branch is normalised to unit sum over time, gated by the class branch, summed over time and
clamped by hard-tanh to [0, 1].

``reference`` (SiddGururani/AttentionMIC): input BatchNorm, three (1x1 conv without bias, BatchNorm,
ReLU, dropout 0.6) blocks, residual from the raw input, attention clamped to [1e-7, 1 - 1e-7] before
normalising, He-uniform init: 55,336 parameters for D = 128, C = 20.

Training speed: a batch of 128 clips is ~1,300 rows of 128 features, so a step is a dozen small GEMMs
plus ~100 small element-wise operations, and on a CPU the per-operation overhead costs as much as the
arithmetic. For the paper variant, ``model(x, labels, mask)`` therefore computes the loss and its
gradients in one hand-derived autograd function (``_PaperAttentionLoss``): group statistics from two
reductions instead of a strided one, heads fused into one GEMM, a vectorised BCE, the gradients in
about 40 operations. It gives the same loss and gradients as autograd through the modules (tested to
float32 rounding); ``benchmarks/bench_train.py`` measures the gain.
"""

from __future__ import annotations

import torch
from torch import nn


class _ChannelNorm(nn.Module):
    """Applies a (B, C, T) normalisation layer to (B, T, C) input."""

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class AttentionClassifier(nn.Module):
    """1x1 convolutions over time are per-step linear maps, and are computed as such (nn.Linear on (B, T, D)):
    the same function and parameter count, ~5x faster to train on CPU than Conv1d with kernel 1."""

    def __init__(self, input_dim: int = 128, num_classes: int = 20, hidden: int = 128, variant: str = "paper",
                 groups: int = 16, dropout: float = 0.6) -> None:
        super().__init__()
        if variant not in ("paper", "reference"):
            raise ValueError(f"variant must be 'paper' or 'reference', not {variant!r}")
        self.args = {"input_dim": input_dim, "num_classes": num_classes, "hidden": hidden, "variant": variant,
                     "groups": groups, "dropout": dropout}
        self.variant = variant
        reference = variant == "reference"
        self.input_norm = _ChannelNorm(nn.BatchNorm1d(input_dim)) if reference else nn.Identity()
        layers: list[nn.Module] = []
        channels = input_dim
        for _ in range(3):
            layers.append(nn.Linear(channels, hidden, bias=not reference))
            if reference:
                layers += [_ChannelNorm(nn.BatchNorm1d(hidden)), nn.ReLU(), nn.Dropout(dropout)]
            else:
                layers.append(nn.ReLU())
            channels = hidden
        if not reference:
            layers[-1] = _ChannelNorm(nn.GroupNorm(groups, hidden))  # the paper: convs, then one group norm
        self.embedding = nn.Sequential(*layers)
        self.residual = nn.Identity() if input_dim == hidden else nn.Linear(input_dim, hidden, bias=False)
        self.attention = nn.Linear(hidden, num_classes)
        self.classes = nn.Linear(hidden, num_classes)
        if reference:
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """features (B, T, D) -> {"probs": (B, C) in [0, 1], "attention": (B, T, C) summing to 1 over T,
        "activity": (B, T, C) = class gate x attention (unnormalised), in [0, 1]}.

        With ``labels`` (B, C) and the label ``mask`` (B, C) (training): {"probs", "loss"}, the loss being
        :func:`masked_bce`. The paper variant computes it with the fused function when gradients are on and the
        features are data (when they come from a network trained with it, through autograd)."""
        if labels is not None:
            if mask is None:
                raise ValueError("a loss needs the label mask with the labels")
            if self.variant == "paper" and torch.is_grad_enabled() and not features.requires_grad:
                weight = mask.to(features.dtype)
                loss, probs = _PaperAttentionLoss.apply(features, labels.to(features.dtype), weight,
                                                        self.embedding[-1].norm.num_groups,
                                                        self.embedding[-1].norm.eps, *self._paper_parameters())
                return {"probs": probs, "loss": loss}
            probs = self(features)["probs"]
            return {"probs": probs, "loss": masked_bce(probs, labels, mask)}
        if self.variant == "paper" and not torch.is_grad_enabled():  # inference: the same arithmetic, fewer passes
            norm = self.embedding[-1].norm
            f = _paper_forward(features, norm.num_groups, norm.eps, *self._paper_parameters())
            return {"probs": f["p"].clamp(0.0, 1.0), "attention": f["normalised"], "activity": f["attention"] * f["gate"]}
        x = self.input_norm(features)
        h = self.embedding(x) + self.residual(x)
        attention = torch.sigmoid(self.attention(h))
        if self.variant == "reference":
            attention = attention.clamp(1e-7, 1 - 1e-7)
        classes = torch.sigmoid(self.classes(h))
        normalised = attention / attention.sum(dim=1, keepdim=True)
        probs = nn.functional.hardtanh((normalised * classes).sum(dim=1), 0.0, 1.0)
        return {"probs": probs, "attention": normalised, "activity": attention * classes}

    def _paper_parameters(self) -> list[torch.Tensor | None]:
        first, second, third, norm = self.embedding[0], self.embedding[2], self.embedding[4], self.embedding[5].norm
        projection = None if isinstance(self.residual, nn.Identity) else self.residual.weight
        return [first.weight, first.bias, second.weight, second.bias, third.weight, third.bias, norm.weight, norm.bias,
                self.attention.weight, self.attention.bias, self.classes.weight, self.classes.bias, projection]


def _group_mean(v: torch.Tensor, batch: int, steps: int, groups: int) -> torch.Tensor:
    """(B*T, H) -> the mean over time and each group's channels, per clip and group, broadcast as (B, 1, H).

    Summing over time first (contiguous rows), then over the H/G channels of each group, is ~8x faster on
    CPU than one reduction over the strided (T, H/G) pairs."""
    hidden = v.shape[1]
    width = hidden // groups
    mean = v.view(batch, steps, hidden).sum(1).view(batch, groups, width).sum(-1, keepdim=True) / (steps * width)
    return mean.expand(batch, groups, width).reshape(batch, 1, hidden)


def _paper_forward(features, groups, eps, w1, b1, w2, b2, w3, b3, gamma, beta, wa, ba, wc, bc, wr) -> dict:
    """The paper variant's forward pass with its intermediates (no autograd: in-place where it can)."""
    batch, steps, dim = features.shape
    x = features.reshape(batch * steps, dim)
    h1 = torch.addmm(b1, x, w1.t()).clamp_min_(0)
    h2 = torch.addmm(b2, h1, w2.t()).clamp_min_(0)
    a3 = torch.addmm(b3, h2, w3.t())
    hidden = a3.shape[1]
    centred = a3.view(batch, steps, hidden).sub_(_group_mean(a3, batch, steps, groups)).view(batch * steps, hidden)
    rstd = _group_mean(centred * centred, batch, steps, groups).add_(eps).rsqrt_()
    xhat = centred.view(batch, steps, hidden).mul_(rstd).view(batch * steps, hidden)
    h = torch.addcmul(beta, xhat, gamma)
    h = h.add_(x) if wr is None else h.addmm_(x, wr.t())
    classes = wa.shape[0]
    heads = torch.cat([wa, wc])
    z = torch.addmm(torch.cat([ba, bc]), h, heads.t()).sigmoid_().view(batch, steps, 2 * classes)
    attention, gate = z[..., :classes], z[..., classes:]
    total = attention.sum(dim=1, keepdim=True)
    normalised = attention / total
    p = (normalised * gate).sum(dim=1)
    return {"x": x, "h1": h1, "h2": h2, "xhat": xhat, "rstd": rstd, "h": h, "heads": heads, "z": z, "total": total,
            "attention": attention, "gate": gate, "normalised": normalised, "p": p}


class _PaperAttentionLoss(torch.autograd.Function):
    """Masked BCE of the paper variant, forward and backward by hand (see the module docstring).

    Inputs: features (B, T, D), labels (B, C), mask weights (B, C), groups, eps, then the parameters
    w1, b1, w2, b2, w3, b3, gamma, beta, w_att, b_att, w_cls, b_cls, w_residual (None: identity).
    Outputs: the loss and the clip probabilities (not differentiable)."""

    @staticmethod
    def forward(ctx, features, labels, weight, groups, eps, w1, b1, w2, b2, w3, b3, gamma, beta, wa, ba, wc, bc, wr):
        f = _paper_forward(features, groups, eps, w1, b1, w2, b2, w3, b3, gamma, beta, wa, ba, wc, bc, wr)
        p = f["p"]
        probs = p.clamp(0.0, 1.0)  # hard-tanh
        count = weight.sum().clamp_min(1.0)
        # binary_cross_entropy clamps both logarithms at -100
        log_likelihood = torch.lerp(torch.log1p(-probs).clamp_min_(-100), probs.log().clamp_min_(-100), labels)
        loss = -(log_likelihood.mul_(weight).sum() / count)
        ctx.save_for_backward(f["x"], labels, weight, count, w2, w3, gamma, wr, f["h1"], f["h2"], f["xhat"], f["rstd"],
                              f["h"], f["heads"], f["z"], f["total"], f["normalised"], p, probs)
        ctx.groups = groups
        ctx.mark_non_differentiable(probs)
        return loss, probs

    @staticmethod
    def backward(ctx, dloss, _dprobs):
        x, labels, weight, count, w2, w3, gamma, wr, h1, h2, xhat, rstd, h, heads, z, total, normalised, p, probs = \
            ctx.saved_tensors
        groups = ctx.groups
        batch, steps, width = z.shape
        classes = width // 2
        # BCE as torch computes it: (p - y) / max(p (1 - p), 1e-12); hard-tanh passes it strictly inside (0, 1)
        dp = (probs - labels).div_((probs * (1 - probs)).clamp_min_(1e-12)).mul_(weight).mul_(dloss / count)
        dp = dp.mul_((p > 0) & (p < 1)).unsqueeze(1)
        attention, gate = z[..., :classes], z[..., classes:]
        # p = sum_t a_t g_t / sum_t a_t  =>  dp/da_t = (g_t - p) / sum a ; dp/dg_t = a_t / sum a
        dz_att = (gate - p.unsqueeze(1)).mul_(dp / total).mul_(attention * (1 - attention))
        dz_gate = (normalised * dp).mul_(gate * (1 - gate))
        dz = torch.cat([dz_att, dz_gate], dim=2).view(batch * steps, width)
        dheads, dhead_bias = dz.t().mm(h), dz.sum(0)
        dh = dz.mm(heads)
        dwr = None if wr is None else dh.t().mm(x)
        dgamma, dbeta = (dh * xhat).sum(0), dh.sum(0)
        hidden = dh.shape[1]
        dxhat = dh.mul_(gamma)
        mean_dxhat_xhat = _group_mean(dxhat * xhat, batch, steps, groups)
        da3 = (dxhat.view(batch, steps, hidden) - _group_mean(dxhat, batch, steps, groups))
        da3 = da3.sub_(xhat.view(batch, steps, hidden) * mean_dxhat_xhat).mul_(rstd).view(batch * steps, hidden)
        dw3, db3 = da3.t().mm(h2), da3.sum(0)
        # ReLU's backward (the gradient where h > 0, zero elsewhere) is torch's own kernel for it: the same bytes as
        # grad.masked_fill_(h <= 0, 0) or torch.where(h > 0, grad, 0), which build a boolean mask first and took 2-4x
        # as long on the default batch's (1280, 128) activations here (2026-11-27)
        da2 = torch.ops.aten.threshold_backward(da3.mm(w3), h2, 0.0)
        dw2, db2 = da2.t().mm(h1), da2.sum(0)
        da1 = torch.ops.aten.threshold_backward(da2.mm(w2), h1, 0.0)
        dw1, db1 = da1.t().mm(x), da1.sum(0)
        return (None, None, None, None, None, dw1, db1, dw2, db2, dw3, db3, dgamma, dbeta,
                dheads[:classes], dhead_bias[:classes], dheads[classes:], dhead_bias[classes:], dwr)


def masked_bce(probs: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy over the labelled entries only: the mean of BCE(``probs[mask]``, ``labels[mask]``).

    Computed as a mask-weighted sum (no boolean indexing, so no data-dependent shapes); unlabelled entries
    get exactly zero gradient."""
    weight = mask.to(probs.dtype)
    total = nn.functional.binary_cross_entropy(probs, labels.to(probs.dtype), weight=weight, reduction="sum")
    return total / weight.sum().clamp_min(1.0)
