"""Tensors for each objective: textual and denoising read NSynth, alignment reads Freesound."""

from __future__ import annotations

from pathlib import Path

from instrec.errors import InstrecError
from instrec.pretraining.data import first_examples, quality_targets, tensors
from instrec.pretraining.wordvectors import QUALITY_WORDS, load_word_vectors


def objective_tensors(objective: str, root: str | Path, config) -> tuple[list, list, dict]:
    """(train tensors, validation tensors, head sizes) for ``objective`` from the dataset at ``root``."""
    if objective == "align":
        from instrec.datasets.freesound import Freesound

        dataset = Freesound(root)
    else:
        from instrec.datasets.nsynth import NSynth

        dataset = NSynth(root)
    splits = {"train": config.max_train_items, "valid": config.max_valid_items}
    out, sizes = [], {}
    vectors = load_word_vectors(list(QUALITY_WORDS.values()), config.word_vectors or None) if objective == "textual" else None
    for split, limit in splits.items():
        log_mel, keep = first_examples(dataset, split)
        if objective == "textual":
            targets, has_target = quality_targets(dataset.examples(split), dataset.keys(split), vectors)
            out.append(tensors(log_mel, targets, keep=keep & has_target, limit=limit))
            sizes = {"target_size": targets.shape[1]}
        elif objective == "align":
            tags = dataset.tag_matrix(split)
            out.append(tensors(log_mel, tags, keep=keep & (tags.sum(1) > 0), limit=limit))
            sizes = {"vocabulary_size": tags.shape[1]}
        else:
            out.append(tensors(log_mel, keep=keep, limit=limit))
        if len(out[-1][0]) < 2:
            raise InstrecError(f"{root}: fewer than 2 usable {split} items for the {objective} objective; "
                               "use a larger dataset")
    return out[0], out[1], sizes
