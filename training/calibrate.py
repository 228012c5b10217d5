"""Temperature scaling (Guo et al. 2017) and expected calibration error."""

from __future__ import annotations

import math

import numpy as np
from digitnet.losses import TEMPERATURE_RANGE, nll, softmax
from digitnet.network import Network

from .idx import Split


def fit_temperature(logits: np.ndarray, labels: np.ndarray,
                    lo: float = TEMPERATURE_RANGE[0], hi: float = TEMPERATURE_RANGE[1],
                    iters: int = 80) -> float:
    """The T minimising validation NLL (in float64); NLL is unimodal in log T, so
    golden-section works."""
    logits = logits.astype(np.float64)
    a, b = math.log(lo), math.log(hi)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, labels, math.exp(c)), nll(logits, labels, math.exp(d))
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, labels, math.exp(d))
    return math.exp((a + b) / 2)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by count."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def calibration_summary(val_logits: np.ndarray, val_labels: np.ndarray,
                        test_logits: np.ndarray, test_labels: np.ndarray) -> dict[str, float]:
    """Fit T on validation; report test ECE and NLL before and after."""
    t = fit_temperature(val_logits, val_labels)
    test_logits64 = test_logits.astype(np.float64)
    return {
        "temperature": t,
        "test_ece_before": expected_calibration_error(softmax(test_logits), test_labels),
        "test_ece_after": expected_calibration_error(softmax(test_logits, t), test_labels),
        "test_nll_before": nll(test_logits64, test_labels),
        "test_nll_after": nll(test_logits64, test_labels, t),
        "val_ece_before": expected_calibration_error(softmax(val_logits), val_labels),
        "val_ece_after": expected_calibration_error(softmax(val_logits, t), val_labels),
    }


def fit_and_apply(net: Network, val: Split, test: Split) -> tuple[dict[str, float], np.ndarray]:
    """Fit the softmax temperature on validation (set on `net`): the calibration figures,
    and the calibrated network's test predictions."""
    cal = calibration_summary(net.logits(val.images), val.labels,
                              test_logits := net.logits(test.images), test.labels)
    net.temperature = cal["temperature"]
    return cal, softmax(test_logits, net.temperature).argmax(axis=1)
