"""A compact convolutional network trained end to end on log-mel examples, with the paper's attention head.

Beyond the paper: its representations (VGGish, 72 M parameters) are too large to ship and too slow to run
100x real time on two cores. Here each 0.96 s log-mel example (96 frames x 64 mel bands, the VGGish front
end) goes through four 3x3 convolution blocks (batch norm, ReLU) of ``width``, 2, 4 and 8 x ``width``
channels, the first with stride 2, the others followed by 2x2 max pooling (6 x 4 cells remain); the mean and the maximum over the remaining time-frequency cells make the example's
embedding (a linear map to ``embedding`` dimensions, ReLU). The embeddings of a clip's examples are the
sequence the paper's attention classifier (:class:`AttentionClassifier`, variant ``paper``) pools.

The network reads the same input as the log-mel attention classifier -- a clip's frames as a sequence
(B, examples x 96, 64), min-max normalised with the training statistics -- so the feature stores, the
training loop and ``predict`` serve both.
"""

from __future__ import annotations

import torch
from torch import nn

from instrec import params as P
from instrec.classifier import AttentionClassifier


ENCODER_PARTS = ("convs.", "project.")  # the state-dict prefixes of the per-example encoder (stage 1 pre-trains them)


class ConvAttentionClassifier(nn.Module):
    """Log-mel frames (B, T x 96, 64) -> per-example CNN embeddings (B, T, E) -> attention classifier."""

    def __init__(self, num_classes: int = 20, width: int = 16, embedding: int = 128, hidden: int = 128,
                 groups: int = 16, input_dim: int = P.NUM_MEL_BANDS) -> None:
        super().__init__()
        self.args = {"architecture": "cnn", "num_classes": num_classes, "width": width, "embedding": embedding,
                     "hidden": hidden, "groups": groups, "input_dim": input_dim}
        layers: list[nn.Module] = []
        channels = 1
        for scale in (1, 2, 4, 8):  # the first block halves the resolution by its stride, the others by pooling
            layers += [nn.Conv2d(channels, width * scale, 3, stride=2 if scale == 1 else 1, padding=1, bias=False),
                       nn.BatchNorm2d(width * scale), nn.ReLU(inplace=True)]
            layers += [] if scale == 1 else [nn.MaxPool2d(2)]
            channels = width * scale
        self.convs = nn.Sequential(*layers)
        # Channels-last weights: the input has one channel, whose layout is ambiguous, so without them every
        # convolution and pooling runs channels-first on CPU: 1.41x slower to train, 1.17x slower to predict end
        # to end (benchmarks/bench_train_cnn.py and bench_predict.py measure against that baseline).
        self.convs.to(memory_format=torch.channels_last)
        self.project = nn.Sequential(nn.Linear(2 * channels, embedding), nn.ReLU())
        self.head = AttentionClassifier(embedding, num_classes, hidden, "paper", groups)
        self.frames = P.EXAMPLE_FRAMES

    def embed(self, features: torch.Tensor, pooled: bool = False):
        """(B, T x 96, 64) -> (B, T, embedding); with ``pooled``, also the pooled convolution features the embedding
        is made from (the last block's mean and maximum per channel, (B, T, 2 x 8 x width)), as a pair."""
        batch, steps, bands = features.shape
        if steps % self.frames:
            raise ValueError(f"expected whole 0.96 s examples ({self.frames} frames each), got {steps} frames")
        examples = features.reshape(batch * (steps // self.frames), 1, self.frames, bands)
        maps = self.convs(examples).flatten(2)
        cells = torch.cat([maps.mean(dim=2), maps.amax(dim=2)], dim=1)
        embedding = self.project(cells).view(batch, steps // self.frames, -1)
        return (embedding, cells.view(batch, steps // self.frames, -1)) if pooled else embedding

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """As :meth:`AttentionClassifier.forward`; "activity" and "attention" are per example (B, T, C)."""
        return self.head(self.embed(features), labels, mask)


class _EnsembleHead(nn.Module):
    """The members' heads on their parts of the concatenated embeddings; every output averaged."""

    def __init__(self, heads: list[nn.Module], size: int) -> None:
        super().__init__()
        self.heads, self.size = heads, size  # a plain list: the members own the parameters

    def forward(self, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
        outs = [head(part) for head, part in zip(self.heads, embeddings.split(self.size, dim=-1))]
        return {key: torch.stack([out[key] for out in outs]).mean(dim=0) for key in outs[0]}


class Ensemble(nn.Module):
    """Compact CNNs trained apart on the same features (e.g. with and without mixing): a clip's probability of
    each class is the mean of theirs. Built from trained members (``default_model.assemble``), never trained
    as one. ``embed`` concatenates the members' embeddings and ``head`` splits them again, so ``predict``
    embeds each example once and pools windows as it does for one CNN."""

    def __init__(self, members: list[dict]) -> None:
        super().__init__()
        if len(members) < 2 or any(m.get("architecture") != "cnn" for m in members):
            raise ValueError("an ensemble needs two or more compact CNN members")
        self.members = nn.ModuleList(build_classifier(m) for m in members)
        if len({m.args["embedding"] for m in self.members}) != 1:
            raise ValueError("ensemble members must share the embedding size")
        self.args = {"architecture": "ensemble", "members": [m.args for m in self.members]}

    @property
    def head(self) -> nn.Module:
        return _EnsembleHead([m.head for m in self.members], self.members[0].args["embedding"])

    def embed(self, features: torch.Tensor, pooled: bool = False):
        """(B, T x 96, 64) -> (B, T, members x embedding); with ``pooled``, also the members' pooled convolution
        features, concatenated likewise, as a pair."""
        if pooled:
            parts = [member.embed(features, pooled=True) for member in self.members]
            return torch.cat([e for e, _ in parts], dim=-1), torch.cat([c for _, c in parts], dim=-1)
        return torch.cat([member.embed(features) for member in self.members], dim=-1)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if labels is not None:
            raise ValueError("an ensemble is assembled from trained members; train each member instead")
        return self.head(self.embed(features))


class _OnEncoder(nn.Module):
    """A trained model (``self.encoder``) with something on its embeddings that is fitted apart, never trained as
    one: it embeds as its encoder does and its ``head`` (a property) makes the answer."""

    trained_by = ""  # where the added part is fitted (the error a training call gets)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        return self.encoder.embed(features)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if labels is not None:
            raise ValueError(self.trained_by)
        return self.head(self.embed(features))


class Adapted(_OnEncoder):
    """A trained model taught a user's classes (``instrec train-audio``): its encoder (an :class:`Ensemble` or a
    CNN), its own head for the classes it keeps, and a new attention head on the same embeddings for the user's
    classes. ``outputs`` lists, per output class, ("base", index into the encoder model's classes) or ("new",
    index into the new head's)."""

    def __init__(self, encoder: dict, new_head: dict, outputs: list) -> None:
        super().__init__()
        self.encoder = build_classifier(encoder)
        self.new_head = AttentionClassifier(**new_head)
        self.outputs = [(str(kind), int(i)) for kind, i in outputs]
        if any(kind not in ("base", "new") for kind, _ in self.outputs):
            raise ValueError("outputs must be ('base', i) or ('new', j)")
        self.args = {"architecture": "adapted", "encoder": self.encoder.args, "new_head": self.new_head.args,
                     "outputs": [list(o) for o in self.outputs], "num_classes": len(self.outputs)}

    trained_by = "train the new head on the embeddings (train_audio), not the adapted model"

    @property
    def head(self) -> nn.Module:
        return _AdaptedHead(self.encoder.head, self.new_head, self.outputs)


class _AdaptedHead(nn.Module):
    def __init__(self, base: nn.Module, new: nn.Module, outputs: list) -> None:
        super().__init__()
        self.base, self.new, self.outputs = [base], new, outputs  # (a list: the encoder model owns its head)

    def forward(self, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
        base, new = self.base[0](embeddings), self.new(embeddings)
        pick = lambda key: torch.stack([(base if kind == "base" else new)[key][..., i]  # noqa: E731
                                        for kind, i in self.outputs], dim=-1)
        return {key: pick(key) for key in ("probs", "activity") if key in base and key in new}


PROBE_FEATURES = ("embedding", "pooled", "both")  # what a probe reads (Probed): the embeddings the head reads, the
# pooled convolution features they are made from, or both side by side


def check_probe_features(features: str) -> None:
    """What a probe reads must be one of :data:`PROBE_FEATURES`; else ValueError in one line."""
    if features not in PROBE_FEATURES:
        raise ValueError(f"probe features {features!r}: use one of {', '.join(PROBE_FEATURES)}")


class Probed(_OnEncoder):
    """A trained model (an :class:`Ensemble` or a CNN) beside a linear probe on its embeddings (``instrec.probe``):
    per class, ``(1 - w) * its head + w * sigmoid(probe(mean features))``, where the mean is over the examples the
    head pools (a window, or one example alone) and ``w`` is ``blend`` (0 for a class the probe did not learn); with
    a ``gate``, ``w`` is ``blend`` times the gate's probability that those examples hold one real instrument alone
    (``sigmoid(gate(mean features))``), so that the probe, fitted on real players one at a time, speaks where one
    plays alone. Probe and gate are fitted on the features after the network is trained, never trained with it.
    The ``features`` they read (:data:`PROBE_FEATURES`) are the networks' embeddings, or with ``pooled`` or ``both``
    the pooled convolution features the embeddings are made from (alone, or after the embeddings): then ``embed``
    gives the embeddings and the pooled features side by side and the networks' head reads the embeddings alone
    (docs/experiments/2026-12-07-pooled-features-probe.md)."""

    def __init__(self, encoder: dict, embedding: int, num_classes: int, gate: bool = False,
                 features: str = "embedding") -> None:
        super().__init__()
        check_probe_features(features)
        self.encoder = build_classifier(encoder)
        self.features = features
        self.probe = nn.Linear(embedding, num_classes)
        self.gate = nn.Linear(embedding, 1) if gate else None
        self.register_buffer("blend", torch.zeros(num_classes))
        self.args = {"architecture": "probed", "encoder": self.encoder.args, "embedding": embedding,
                     "num_classes": num_classes, **({"gate": True} if gate else {}),
                     **({"features": features} if features != "embedding" else {})}
        self.own = None if features == "embedding" else embedding_size(self.encoder)

    trained_by = "the probe is fitted on embeddings (instrec.probe), not trained with the network"

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T x 96, 64) -> (B, T, D): the networks' embeddings, and after them their pooled convolution features
        where the probe reads those."""
        if self.own is None:
            return self.encoder.embed(features)
        return torch.cat(self.encoder.embed(features, pooled=True), dim=-1)

    @property
    def head(self) -> nn.Module:
        return _ProbedHead(self.encoder.head, self.probe, self.blend, self.gate, self.own, self.features)

    @property
    def step_head(self) -> nn.Module:
        """What answers for one example alone (``predict``'s timeline): the networks' own head. Probe and gate were
        fitted on windows of up to 10 examples and measured there; on one example they are outside what they saw
        (a rendered violin's steps read as voice)."""
        return self.encoder.head if self.own is None else _Leading(self.encoder.head, self.own)


def embedding_size(encoder: nn.Module) -> int:
    """The size of an encoder's embeddings (a CNN's, or an ensemble's members' together)."""
    members = getattr(encoder, "members", [encoder])
    return sum(int(m.args["embedding"]) for m in members)


def pooled_size(encoder: nn.Module) -> int:
    """The size of an encoder's pooled convolution features (the last block's mean and maximum per channel: 2 x 8 x
    width per CNN)."""
    members = getattr(encoder, "members", [encoder])
    return sum(2 * 8 * int(m.args["width"]) for m in members)


class _Leading(nn.Module):
    """A head that reads the first ``size`` values of each step (the networks' embeddings before the pooled
    features)."""

    def __init__(self, head: nn.Module, size: int) -> None:
        super().__init__()
        self.head, self.size = [head], size  # (a list: the Probed model owns it)

    def forward(self, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.head[0](embeddings[..., :self.size])


class _ProbedHead(nn.Module):
    def __init__(self, base: nn.Module, probe: nn.Linear, blend: torch.Tensor, gate: nn.Linear | None,
                 own: int | None = None, features: str = "embedding") -> None:
        super().__init__()
        # (lists: the Probed model owns them)
        self.base, self.probe, self.gate, self.blend = [base], [probe], [gate], blend
        self.own, self.features = own, features

    def forward(self, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
        own = embeddings if self.own is None else embeddings[..., :self.own]
        read = embeddings[..., self.own:] if self.features == "pooled" else embeddings
        mean = read.mean(dim=1)
        probe = torch.sigmoid(self.probe[0](mean))
        if self.gate[0] is None:
            return {"probs": (1 - self.blend) * self.base[0](own)["probs"] + self.blend * probe}
        alone = torch.sigmoid(self.gate[0](mean))  # (B, 1): one real instrument alone
        w = self.blend * alone
        return {"probs": (1 - w) * self.base[0](own)["probs"] + w * probe, "alone": alone}


def without_probe(classifier: nn.Module) -> nn.Module:
    """A classifier's trained networks and their head: a :class:`Probed` model's encoder, any other as it is."""
    return classifier.encoder if isinstance(classifier, Probed) else classifier


def build_classifier(args: dict) -> nn.Module:
    """The classifier a bundle's ``model_args`` describe (the attention classifier unless ``architecture``)."""
    args = dict(args)
    architecture = args.pop("architecture", "attention")
    if architecture == "cnn":
        return ConvAttentionClassifier(**args)
    if architecture == "ensemble":
        return Ensemble(args["members"])
    if architecture == "adapted":
        return Adapted(args["encoder"], args["new_head"], args["outputs"])
    if architecture == "probed":
        return Probed(args["encoder"], args["embedding"], args["num_classes"], args.get("gate", False),
                      args.get("features", "embedding"))
    return AttentionClassifier(**args)

