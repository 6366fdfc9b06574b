"""Per-class F1-macro and mAP, masked by label availability (paper section 5; reference.md section 4).

For each instrument, only the clips where it is labelled count; probabilities are thresholded at 0.5
(``>=`` as AttentionMIC, ``strict=True`` for ``>`` as PaSST/EfficientAT); the F1 of the positive and of the
negative class are averaged over the labels that occur in truth or prediction -- exactly
sklearn's ``classification_report(...)['macro avg']['f1-score']`` with zero_division=0.
"""

from __future__ import annotations

import numpy as np


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp, dtype=np.float64), where=denominator > 0)


def f1_macro_per_class(probs: np.ndarray, labels: np.ndarray, mask: np.ndarray, threshold: float = 0.5,
                       strict: bool = False) -> np.ndarray:
    """(N, C) probabilities, binary labels and label mask -> (C,) F1-macro; NaN for a class never labelled."""
    probs, labels, mask = np.asarray(probs), np.asarray(labels).astype(bool), np.asarray(mask).astype(bool)
    predicted = probs > threshold if strict else probs >= threshold
    tp = np.sum(predicted & labels & mask, axis=0).astype(np.float64)
    tn = np.sum(~predicted & ~labels & mask, axis=0).astype(np.float64)
    fp = np.sum(predicted & ~labels & mask, axis=0).astype(np.float64)
    fn = np.sum(~predicted & labels & mask, axis=0).astype(np.float64)
    f1_pos, f1_neg = _f1(tp, fp, fn), _f1(tn, fn, fp)
    positive_occurs = (tp + fp + fn) > 0  # label 1 in truth or prediction
    negative_occurs = (tn + fn + fp) > 0
    count = positive_occurs.astype(float) + negative_occurs.astype(float)
    total = np.where(positive_occurs, f1_pos, 0) + np.where(negative_occurs, f1_neg, 0)
    out = np.full(probs.shape[1], np.nan)
    np.divide(total, count, out=out, where=count > 0)
    return out


def mean_f1_macro(probs, labels, mask, threshold: float = 0.5, strict: bool = False) -> float:
    return float(np.nanmean(f1_macro_per_class(probs, labels, mask, threshold, strict)))


def average_precision_per_class(probs: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(C,) average precision over labelled clips (sample_weight = mask); NaN without a labelled positive."""
    from sklearn.metrics import average_precision_score

    labels, mask = np.asarray(labels).astype(bool), np.asarray(mask).astype(bool)
    out = np.full(labels.shape[1], np.nan)
    for c in range(labels.shape[1]):
        if (labels[:, c] & mask[:, c]).any():
            out[c] = average_precision_score(labels[:, c], probs[:, c], sample_weight=mask[:, c].astype(float))
    return out


def report(probs, labels, mask, classes, threshold: float = 0.5, strict: bool = False, decisions=None) -> dict:
    """Per-class F1-macro, AP and label counts, and their means; F1 from ``decisions`` (N, C) where given (a rule
    beyond the threshold: ``predict.decide``), else from the probabilities at ``threshold``."""
    f1 = f1_macro_per_class(probs, labels, mask, threshold, strict) if decisions is None else \
        f1_macro_per_class(np.asarray(decisions, np.float32), labels, mask, 0.5)
    ap = average_precision_per_class(probs, labels, mask)
    mask_b, labels_b = np.asarray(mask).astype(bool), np.asarray(labels).astype(bool)
    per_class = {
        name: {"f1_macro": None if np.isnan(f1[c]) else float(f1[c]), "ap": None if np.isnan(ap[c]) else float(ap[c]),
               "labelled": int(mask_b[:, c].sum()), "positives": int((mask_b[:, c] & labels_b[:, c]).sum())}
        for c, name in enumerate(classes)
    }
    return {"f1_macro": float(np.nanmean(f1)) if np.isfinite(f1).any() else None,
            "map": float(np.nanmean(ap)) if np.isfinite(ap).any() else None,
            "threshold": threshold, "strict": strict, "per_class": per_class}
