"""Optimisers that update parameter arrays in place from their gradients."""

from __future__ import annotations

import numpy as np

Param = tuple[np.ndarray, np.ndarray]  # (value, gradient), value updated in place


class SGD:
    """SGD with (heavy-ball) momentum and L2 weight decay on matrices only: decaying
    biases and BatchNorm's scale and shift only pulls them from where they belong."""

    def __init__(self, lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self._velocity: dict[int, np.ndarray] = {}

    def step(self, params: list[Param]) -> None:
        for i, (w, g) in enumerate(params):
            if self.weight_decay and w.ndim > 1:
                g = g + self.weight_decay * w
            v = self._velocity.setdefault(i, np.zeros_like(w))
            v *= self.momentum
            v -= self.lr * g
            w += v


class Adam:
    """Adam with decoupled weight decay on matrices only (AdamW)."""

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self._m: dict[int, np.ndarray] = {}
        self._v: dict[int, np.ndarray] = {}
        self.t = 0

    def step(self, params: list[Param]) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for i, (w, g) in enumerate(params):
            m = self._m.setdefault(i, np.zeros_like(w))
            v = self._v.setdefault(i, np.zeros_like(w))
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            if self.weight_decay and w.ndim > 1:
                w -= np.float32(self.lr * self.weight_decay) * w
            denom = np.sqrt(v / np.float32(c2)) + np.float32(self.eps)
            w -= np.float32(self.lr / c1) * m / denom
