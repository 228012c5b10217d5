"""Temperature scaling is fitted on validation only; the test figures are measured after."""

from __future__ import annotations

import numpy as np
import pytest
from digitnet.losses import nll, softmax

from training.calibrate import calibration_summary, expected_calibration_error, fit_and_apply
from training.idx import Split

VAL_T = 2.5  # the validation labels are drawn at this temperature, the test labels at 1


def _logits_and_labels(n: int, temperature: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits, and labels drawn from softmax(logits / temperature): T is the right answer."""
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((n, 10)) * 3).astype(np.float32)
    probs = softmax(logits.astype(np.float64), temperature)
    labels = np.array([rng.choice(10, p=p) for p in probs], np.int64)
    return logits, labels


VAL = _logits_and_labels(3000, VAL_T, seed=0)
TEST = _logits_and_labels(2000, 1.0, seed=1)  # another size: val answers would not fit


class _TableNet:
    """A network whose logits are looked up: image i (all pixels i) has row i of `table`."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table
        self.temperature = 1.0

    def logits(self, images: np.ndarray) -> np.ndarray:
        return self.table[images[:, 0, 0].astype(np.int64)]


def _split(first: int, labels: np.ndarray) -> Split:
    rows = np.arange(first, first + len(labels), dtype=np.float32)
    return Split(rows[:, None, None] * np.ones((1, 28, 28), np.float32), labels)


def test_the_temperature_is_fitted_on_validation_not_test() -> None:
    (val_logits, val_labels), (test_logits, test_labels) = VAL, TEST
    cal = calibration_summary(val_logits, val_labels, test_logits, test_labels)
    t = cal["temperature"]
    assert t == pytest.approx(VAL_T, rel=0.1)  # fitted on test it would be about 1
    test64 = test_logits.astype(np.float64)
    assert cal["test_nll_before"] == pytest.approx(nll(test64, test_labels))
    assert cal["test_nll_after"] == pytest.approx(nll(test64, test_labels, t))
    # A validation T does not suit these test labels: the honest figure gets worse.
    assert cal["test_nll_after"] > cal["test_nll_before"]
    assert cal["test_ece_after"] == pytest.approx(
        expected_calibration_error(softmax(test_logits, t), test_labels))
    assert cal["val_ece_after"] < cal["val_ece_before"]


def test_fit_and_apply_sets_the_validation_temperature_and_predicts_test() -> None:
    (val_logits, val_labels), (test_logits, test_labels) = VAL, TEST
    net = _TableNet(np.concatenate([val_logits, test_logits]))
    cal, predictions = fit_and_apply(net, _split(0, val_labels),  # type: ignore[arg-type]
                                     _split(len(val_labels), test_labels))
    assert cal == calibration_summary(val_logits, val_labels, test_logits, test_labels)
    assert cal["temperature"] == pytest.approx(VAL_T, rel=0.1)
    assert net.temperature == cal["temperature"]
    assert predictions.shape == test_labels.shape
    np.testing.assert_array_equal(predictions,
                                  softmax(test_logits, net.temperature).argmax(axis=1))
