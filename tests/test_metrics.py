import numpy as np
import pytest
from sklearn.metrics import average_precision_score, classification_report

from instrec.metrics import average_precision_per_class, f1_macro_per_class, report


def _random_problem(seed, n=200, c=6):
    rng = np.random.default_rng(seed)
    probs = rng.random((n, c))
    probs[rng.random((n, c)) < 0.1] = 0.5  # exact threshold hits
    labels = rng.random((n, c)) < 0.4
    mask = rng.random((n, c)) < 0.5
    mask[:, 0] = mask[:, 0] & ~labels[:, 0]  # a class with only negatives labelled
    return probs, labels, mask


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("strict", [False, True])
def test_f1_macro_equals_sklearn_classification_report(seed, strict):
    probs, labels, mask = _random_problem(seed)
    ours = f1_macro_per_class(probs, labels, mask, strict=strict)
    for c in range(probs.shape[1]):
        rows = mask[:, c]
        predicted = (probs[rows, c] > 0.5) if strict else (probs[rows, c] >= 0.5)
        rep = classification_report(labels[rows, c], predicted, output_dict=True, zero_division=0)
        assert ours[c] == pytest.approx(rep["macro avg"]["f1-score"], abs=1e-12)


def test_threshold_convention_matters_at_exactly_half():
    probs = np.array([[0.5], [0.2]])
    labels = np.array([[True], [False]])
    mask = np.ones_like(labels)
    assert f1_macro_per_class(probs, labels, mask)[0] == 1.0
    assert f1_macro_per_class(probs, labels, mask, strict=True)[0] < 1.0


def test_unlabelled_class_is_nan_and_ignored():
    probs, labels, mask = _random_problem(0)
    mask[:, 2] = False
    f1 = f1_macro_per_class(probs, labels, mask)
    assert np.isnan(f1[2])
    result = report(probs, labels, mask, [f"c{i}" for i in range(6)])
    assert result["per_class"]["c2"]["f1_macro"] is None
    assert result["f1_macro"] == pytest.approx(np.nanmean(f1))


def test_masked_entries_do_not_change_metrics():
    probs, labels, mask = _random_problem(1)
    flipped = np.where(mask, labels, ~labels)
    np.testing.assert_array_equal(f1_macro_per_class(probs, labels, mask), f1_macro_per_class(probs, flipped, mask))


def test_average_precision_uses_the_mask_as_weights():
    probs, labels, mask = _random_problem(2)
    ours = average_precision_per_class(probs, labels, mask)
    assert np.isnan(ours[0])  # no labelled positive
    for c in range(1, 6):
        rows = mask[:, c]
        assert ours[c] == pytest.approx(average_precision_score(labels[rows, c], probs[rows, c]))
