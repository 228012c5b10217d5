"""Optimisers that update parameter arrays in place from their gradients."""

from __future__ import annotations

import numpy as np

from .network import unprefixed

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

    def state(self) -> dict[str, np.ndarray]:
        """The momentum buffers, keyed `velocity.<parameter index>`: what a resumed run
        needs to take the next step as the uninterrupted one would."""
        return {f"velocity.{i}": v for i, v in self._velocity.items()}

    def state_shapes(self, shapes: list[tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
        """The arrays `state()` holds once it stepped parameters of these shapes: what a
        saved state must be to go on with them."""
        return {f"velocity.{i}": shape for i, shape in enumerate(shapes)}

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Continue from `state()`'s arrays (copied: the optimiser updates them in place)."""
        self._velocity = _indexed(arrays, "velocity")


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

    def state(self) -> dict[str, np.ndarray]:
        """The moments, keyed `m.<parameter index>` and `v.<parameter index>`, and the step
        count `t` their bias correction depends on: what a resumed run needs."""
        return {**{f"m.{i}": m for i, m in self._m.items()},
                **{f"v.{i}": v for i, v in self._v.items()}, "t": np.array(self.t)}

    def state_shapes(self, shapes: list[tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
        """The arrays `state()` holds once it stepped parameters of these shapes: what a
        saved state must be to go on with them."""
        return {**{f"{name}.{i}": shape for name in ("m", "v") for i, shape in enumerate(shapes)},
                "t": ()}

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Continue from `state()`'s arrays (copied: the optimiser updates them in place)."""
        self._m, self._v = _indexed(arrays, "m"), _indexed(arrays, "v")
        self.t = int(arrays["t"])


def _indexed(arrays: dict[str, np.ndarray], name: str) -> dict[int, np.ndarray]:
    """`{i: copy of arrays["<name>.<i>"]}`: a `state()` entry back as the optimiser keeps it."""
    return {int(i): np.array(v) for i, v in unprefixed(arrays, f"{name}.").items()}
