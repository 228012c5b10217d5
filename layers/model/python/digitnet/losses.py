"""Softmax with temperature and cross-entropy on logits."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits / temperature, shifted for numerical safety."""
    z = logits / np.float32(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / np.float32(temperature)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood and its gradient with respect to the logits."""
    n = logits.shape[0]
    rows = np.arange(n)
    loss = -float(log_softmax(logits)[rows, labels].mean())
    dlogits = softmax(logits)
    dlogits[rows, labels] -= 1.0
    return loss, (dlogits / n).astype(np.float32)
