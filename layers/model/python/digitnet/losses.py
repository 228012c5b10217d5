"""Softmax with temperature and cross-entropy on logits."""

from __future__ import annotations

import numpy as np

# The temperatures calibration searches (training.calibrate), so the only ones a model file
# may hold: float32 holds them, and logits / T stays in range.
TEMPERATURE_RANGE = (0.05, 20.0)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits / temperature, shifted for numerical safety."""
    z = logits / np.float32(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise log of `softmax`, from the shifted logits directly: no log of a probability
    that underflowed to 0."""
    z = logits / np.float32(temperature)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of `labels` under softmax(logits / temperature), computed
    in the logits' dtype."""
    return -float(log_softmax(logits, temperature)[np.arange(len(labels)), labels].mean())


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood and its gradient with respect to the logits."""
    n = logits.shape[0]
    # Shifts and exponentiates twice (softmax, nll), kept: any rewrite must give these very
    # bits (exp(log_softmax) does not), or every recorded weight hash moves.
    dlogits = softmax(logits)
    dlogits[np.arange(n), labels] -= 1.0
    return nll(logits, labels), (dlogits / n).astype(np.float32)
