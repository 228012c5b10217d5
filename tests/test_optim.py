"""The optimisers against their update rules written out by hand, two steps each.

Two steps, because momentum, moments and bias correction only show from the second;
a matrix and a vector, because weight decay touches matrices only; the learning rate
changes between steps, as the one-cycle schedule changes it between batches.
"""

from __future__ import annotations

import numpy as np
from digitnet.optim import SGD, Adam

LRS = (0.1, 0.05)
WD = 0.5


def _problem() -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """A float32 matrix and vector (as the network holds them), and two steps' gradients."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((3, 2)).astype(np.float32),
               rng.standard_normal(4).astype(np.float32)]
    grads = [[rng.standard_normal(w.shape).astype(np.float32) for w in weights]
             for _ in LRS]
    return weights, grads


def _run(opt: SGD | Adam, lrs: tuple[float, ...] | None = LRS,
         scale: float = 1.0) -> list[np.ndarray]:
    """Two steps of `opt` on _problem's gradients times `scale`, at `lrs` (None: at its
    own lr); the arrays it updated in place."""
    weights, grads = _problem()
    for i, step_grads in enumerate(grads):
        if lrs is not None:
            opt.lr = lrs[i]
        opt.step([(w, g * np.float32(scale)) for w, g in zip(weights, step_grads, strict=True)])
    return weights


def _sgd_by_hand(w: np.ndarray, gs: list[np.ndarray], mu: float, wd: float,
                 lrs: tuple[float, ...] = LRS) -> np.ndarray:
    """v <- mu v - lr (g + wd w); w <- w + v."""
    w, v = w.astype(np.float64), np.zeros(w.shape)
    for lr, g in zip(lrs, gs, strict=True):
        v = mu * v - lr * (g + wd * w)
        w = w + v
    return w


def _adam_by_hand(w: np.ndarray, gs: list[np.ndarray], b1: float, b2: float, eps: float,
                  wd: float, lrs: tuple[float, ...] = LRS) -> np.ndarray:
    """AdamW: m, v moving averages of g and g^2, bias-corrected by 1 - beta^t;
    w <- w - lr wd w - lr m_hat / (sqrt(v_hat) + eps)."""
    w, m, v = w.astype(np.float64), np.zeros(w.shape), np.zeros(w.shape)
    for t, (lr, g) in enumerate(zip(lrs, gs, strict=True), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        w = w - lr * wd * w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return w


def test_sgd_two_steps_with_momentum_and_weight_decay() -> None:
    matrix, vector = _run(SGD(momentum=0.8, weight_decay=WD))
    (w0, b0), grads = _problem()
    np.testing.assert_allclose(matrix, _sgd_by_hand(w0, [g[0] for g in grads], 0.8, WD),
                               rtol=1e-5, atol=1e-6)
    # 1-D arrays (biases, BatchNorm's gamma and beta) are never decayed.
    np.testing.assert_allclose(vector, _sgd_by_hand(b0, [g[1] for g in grads], 0.8, 0.0),
                               rtol=1e-5, atol=1e-6)


def test_adam_two_steps_with_bias_correction_and_decoupled_decay() -> None:
    """eps is large here so that where it is added (outside the square root) shows."""
    b1, b2, eps = 0.8, 0.9, 0.01
    matrix, vector = _run(Adam(betas=(b1, b2), eps=eps, weight_decay=WD))
    (w0, b0), grads = _problem()
    np.testing.assert_allclose(
        matrix, _adam_by_hand(w0, [g[0] for g in grads], b1, b2, eps, WD), rtol=1e-5,
        atol=1e-6)
    # 1-D arrays are never decayed.
    np.testing.assert_allclose(
        vector, _adam_by_hand(b0, [g[1] for g in grads], b1, b2, eps, 0.0), rtol=1e-5,
        atol=1e-6)


def test_the_defaults_are_the_textbook_ones() -> None:
    """SGD: lr 0.1, momentum 0.9; Adam: lr 1e-3, betas (0.9, 0.999), eps 1e-8; neither
    decays. Training builds Adam with only its lr and decay, so its betas and eps are these.
    Adam's gradients are 1e-8 small, so that eps, added to sqrt(v_hat) ~ 1e-8, shows."""
    weights, grads = _problem()
    tiny = [[g * np.float32(1e-8) for g in step] for step in grads]
    sgd, adam = _run(SGD(), lrs=None), _run(Adam(), lrs=None, scale=1e-8)
    for i, w0 in enumerate(weights):
        np.testing.assert_allclose(
            sgd[i], _sgd_by_hand(w0, [g[i] for g in grads], 0.9, 0.0, lrs=(0.1, 0.1)),
            rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            adam[i], _adam_by_hand(w0, [g[i] for g in tiny], 0.9, 0.999, 1e-8, 0.0,
                                   lrs=(1e-3, 1e-3)), rtol=1e-5, atol=1e-6)
