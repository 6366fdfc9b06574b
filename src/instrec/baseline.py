"""The OpenMIC-2018 baseline as a reference row: one random forest per class (100 trees, depth 8) on
time-averaged features, trained on the labelled training clips of that class (Humphrey et al. 2018)."""

from __future__ import annotations

import numpy as np

from instrec.metrics import report


def random_forest_report(train_x: np.ndarray, train_y: np.ndarray, train_mask: np.ndarray, test_x: np.ndarray,
                         test_y: np.ndarray, test_mask: np.ndarray, classes, seed: int = 0, trees: int = 100,
                         depth: int = 8, threshold: float = 0.5, strict: bool = False) -> dict:
    """Fit per class on (N, T, D) features averaged over T; the test report as :func:`instrec.metrics.report`."""
    from sklearn.ensemble import RandomForestClassifier

    train_mean, test_mean = train_x.mean(axis=1), test_x.mean(axis=1)
    probs = np.zeros(test_y.shape, np.float32)
    for c in range(train_y.shape[1]):
        rows = train_mask[:, c].astype(bool)
        labels = train_y[rows, c].astype(bool)
        if labels.all() or not labels.any():  # one class only: its constant prediction
            probs[:, c] = float(labels.all()) if rows.any() else 0.0
            continue
        forest = RandomForestClassifier(n_estimators=trees, max_depth=depth, random_state=seed, n_jobs=-1)
        forest.fit(train_mean[rows], labels)
        probs[:, c] = forest.predict_proba(test_mean)[:, 1]
    return report(probs, test_y, test_mask, classes, threshold, strict)
