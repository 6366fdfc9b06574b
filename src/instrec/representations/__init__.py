"""Representations compared by the paper: the log-mel itself and VGGish (random, AudioSet, stage-1 checkpoints)."""
