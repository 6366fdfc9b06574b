"""The shared stage-1 training (paper section 4.1), with Lightning: Adam 1e-4, batch 64, early stopping
after 5 epochs without validation-loss improvement, at most 50 epochs, Glorot-uniform initialisation.

The run folder holds ``checkpoints/last.ckpt`` (rerunning the same command resumes from it) and
``checkpoints/best.ckpt`` (weights only) while it trains (both removed when it finishes: ``vggish.pt`` holds the
best epoch's weights, and each checkpoint of VGGish takes 290 MB), CSV logs in ``logs/version_<n>/metrics.csv`` (and TensorBoard logs if ``tensorboard`` is installed), ``config.json``
and ``vggish.pt``: the VGGish weights of the best epoch in the torchvggish layout, which the
representation registry loads as ``vggish:<run>/vggish.pt``. Beyond the paper, ``--set encoder=cnn`` pre-trains
the shipped model's compact CNN instead (each example's log-mel min-max normalised per band, as stage 2 reads
it) and writes ``cnn.pt``, its convolutions and projection, which ``train --set architecture=cnn --set
init=<run>/cnn.pt`` starts from. Multi-GPU and multi-node training is
Lightning's DDP: ``--set devices=N --set strategy=ddp [--set num_nodes=M]``; ``--set precision=bf16-mixed``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from instrec.config import PretrainConfig
from instrec.convnet import ENCODER_PARTS, ConvAttentionClassifier
from instrec.errors import InstrecError
from instrec.io import atomic_torch_save, atomic_write_json, nonfinite
from instrec.pretraining.objectives import DenoisingDecoder, TagEncoder, TextualHead, corrupt, nt_xent, textual_loss
from instrec.representations.postprocess import fit_min_max, normalize_min_max
from instrec.representations.vggish import VGGish

import lightning as L  # noqa: E402  (imported here: only stage-1 training needs Lightning)


class Stage1(L.LightningModule):
    """An encoder (VGGish, or the shipped model's compact CNN) + the head of one objective."""

    def __init__(self, objective: str, target_size: int = 0, vocabulary_size: int = 0, lr: float = 1e-4,
                 margin: float = 0.5, temperature: float = 0.1, noise_std: float = 0.1,
                 keep_probability: float = 0.5, final_relu: bool = True, encoder: str = "vggish",
                 width: int = 16) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.objective = objective
        if encoder == "cnn":
            self.cnn = ConvAttentionClassifier(width=width)  # its per-example encoder; the attention head unused
            self.cnn.head = nn.Identity()
        else:
            self.vggish = VGGish(final_relu)  # Glorot-uniform
        if objective == "textual":
            self.head = TextualHead(target_size)
        elif objective.startswith("denoise-"):
            self.head = DenoisingDecoder()
        elif objective == "align":
            self.head = TagEncoder(vocabulary_size)
            self.audio_map = nn.Linear(128, 1152)  # the affine map to the tag encoder's size
        else:
            raise InstrecError(f"unknown objective {objective!r}; choose textual, denoise-additive, "
                               "denoise-multiplicative or align")
        for module in self.head.modules():
            if isinstance(module, (nn.Linear, nn.ConvTranspose1d)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def encode(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(N, 96, 64) log-mel examples (min-max normalised for the CNN) -> (N, 128) embeddings."""
        return self.cnn.embed(log_mel)[:, 0] if self.hparams.encoder == "cnn" else self.vggish(log_mel)

    def loss(self, batch, generator: torch.Generator | None = None) -> torch.Tensor:
        hp = self.hparams
        log_mel = batch[0]
        if self.objective == "textual":
            return textual_loss(self.head(self.encode(log_mel)), batch[1], hp.margin)
        if self.objective.startswith("denoise-"):
            noisy = corrupt(log_mel, self.objective.split("-")[1], hp.noise_std, hp.keep_probability, generator)
            return nn.functional.mse_loss(self.head(self.encode(noisy)), log_mel)
        return nt_xent(self.audio_map(self.encode(log_mel)), self.head(batch[1]), hp.temperature)

    def training_step(self, batch, batch_index):
        loss = self.loss(batch)
        self.log("train_loss", loss, prog_bar=True, on_step=False, on_epoch=True, sync_dist=True,
                 batch_size=len(batch[0]))
        return loss

    def validation_step(self, batch, batch_index):
        loss = self.loss(batch, torch.Generator().manual_seed(batch_index))  # the same corruption every epoch
        self.log("val_loss", loss, prog_bar=True, on_epoch=True, sync_dist=True, batch_size=len(batch[0]))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


class _StopAfter(L.Callback):
    """Tests: interrupt the run after some epochs, as a kill would."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch >= self.epochs:  # the previous epoch and its checkpoint are complete
            raise KeyboardInterrupt


def _loaders(train: list[torch.Tensor], valid: list[torch.Tensor], batch_size: int):
    from torch.utils.data import DataLoader, TensorDataset

    # drop_last on training: BatchNorm in the heads needs more than one item per batch
    return (DataLoader(TensorDataset(*train), batch_size=batch_size, shuffle=True, drop_last=len(train[0]) > batch_size),
            DataLoader(TensorDataset(*valid), batch_size=batch_size))


def pretrain(objective: str, dataset_root: str | Path, run_dir: str | Path, config: PretrainConfig = PretrainConfig(),
             stop_after_epochs: int | None = None) -> Path | None:
    """Train VGGish (or the compact CNN: ``config.encoder``) with ``objective`` on the dataset and write
    ``run_dir/vggish.pt`` (or ``cnn.pt``, for ``train --set init=``); resumes an interrupted run."""
    from instrec.pretraining.inputs import objective_tensors

    run_dir = Path(run_dir)
    L.seed_everything(config.seed, workers=True, verbose=False)
    train, valid, sizes = objective_tensors(objective, dataset_root, config)
    stats = None
    if config.encoder == "cnn":  # the CNN hears log-mel in [0, 1] per band, as in stage 2
        stats = fit_min_max(train[0].numpy())
        train[0], valid[0] = (torch.from_numpy(normalize_min_max(t.numpy(), stats)) for t in (train[0], valid[0]))
    module = Stage1(objective, lr=config.lr, margin=config.margin, temperature=config.temperature,
                    noise_std=config.noise_std, keep_probability=config.keep_probability,
                    final_relu=config.final_relu, encoder=config.encoder, width=config.width, **sizes)
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    # best: weights only (the full optimizer state of VGGish is ~0.6 GB more); last: everything, for resuming
    checkpoints = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best", monitor="val_loss",
                                  save_top_k=1, save_weights_only=True)
    resumable = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="last", save_top_k=1)
    callbacks = [EarlyStopping("val_loss", patience=config.patience), checkpoints, resumable]
    if stop_after_epochs:
        callbacks.append(_StopAfter(stop_after_epochs))
    # each start (and resumed start) logs into its own logs/version_<n>; flushed every step, so a kill loses nothing
    loggers = [CSVLogger(run_dir, name="logs", flush_logs_every_n_steps=1)]
    try:
        from lightning.pytorch.loggers import TensorBoardLogger
        import tensorboard  # noqa: F401

        loggers.append(TensorBoardLogger(run_dir, name="tensorboard"))
    except ImportError:
        pass
    trainer = L.Trainer(max_epochs=config.max_epochs, accelerator=config.accelerator, devices=config.devices,
                        strategy=config.strategy, num_nodes=config.num_nodes, precision=config.precision,
                        callbacks=callbacks, logger=loggers, deterministic=True, enable_model_summary=False,
                        log_every_n_steps=1)
    atomic_write_json(run_dir / "config.json", {"objective": objective, "dataset": str(dataset_root),
                                                **dataclasses.asdict(config)})
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.exists():  # resumed from: read it as Lightning will (tensors only), and say so in one line if it fails
        from lightning.fabric.utilities.cloud_io import _load

        try:
            _load(str(last), map_location="cpu", weights_only=True)
        except Exception as exc:  # refused pickles, truncated zips, foreign files: all the same to the user
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
            raise InstrecError(f"{last}: not a checkpoint that can be read safely ({reason}); delete it to start the "
                               "run again") from None
    train_loader, valid_loader = _loaders(train, valid, config.batch_size)
    trainer.fit(module, train_loader, valid_loader, ckpt_path=str(last) if last.exists() else None)
    if trainer.interrupted:
        raise KeyboardInterrupt
    if trainer.global_rank != 0:
        return None  # rank 0 writes the result
    best = Stage1.load_from_checkpoint(checkpoints.best_model_path or str(last), map_location="cpu")
    if config.encoder == "cnn":
        weights = {k: v for k, v in best.cnn.state_dict().items() if k.startswith(ENCODER_PARTS)}
        extra = {"norm_stats": {k: torch.from_numpy(v) for k, v in stats.items()}}
    else:
        weights, extra = best.vggish.state_dict(), {}
    out = run_dir / f"{config.encoder}.pt"
    if nonfinite(weights):
        raise InstrecError(f"{run_dir}: the pre-trained weights hold NaN or infinite values; {out.name} was not "
                           "written (lower the learning rate)")
    atomic_torch_save(out, {config.encoder: weights, "objective": objective,
                            "best_val_loss": float(checkpoints.best_model_score or float("nan")),
                            "epochs_run": trainer.current_epoch, "config": dataclasses.asdict(config), **extra})
    last.unlink(missing_ok=True)  # finished: vggish.pt remains; no resume needed
    if checkpoints.best_model_path:  # its weights are in vggish.pt (or cnn.pt)
        Path(checkpoints.best_model_path).unlink(missing_ok=True)
    return out
