"""Network layers with hand-written forward and backward passes (float32, NHWC).

Every layer has `forward(x, train)` and `backward(dy)`. With `train=False` the
forward pass keeps no caches (the inference path); `backward` needs the caches
of the last `forward(..., train=True)`. Trainable arrays live in `params`, their
gradients in `grads` (same keys); running statistics that are saved but not
trained live in `state`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .init import glorot_uniform, he_normal

F32 = np.float32


class Layer:
    """Base class: no parameters, identity config."""

    kind: ClassVar[str] = ""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}

    def config(self) -> dict[str, Any]:
        """Constructor arguments, enough to rebuild the layer from a manifest."""
        return {}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything a model file must hold for this layer."""
        return {**self.params, **self.state}


class Dense(Layer):
    kind = "dense"

    def __init__(self, n_in: int, n_out: int, *, relu_next: bool = True,
                 rng: np.random.Generator | None = None) -> None:
        super().__init__()
        self.n_in, self.n_out, self.relu_next = n_in, n_out, relu_next
        rng = rng or np.random.default_rng(0)
        if relu_next:
            W = he_normal(rng, (n_in, n_out), n_in)
        else:
            W = glorot_uniform(rng, (n_in, n_out), n_in, n_out)
        self.params = {"W": W, "b": np.zeros(n_out, F32)}
        self._x: np.ndarray | None = None

    def config(self) -> dict[str, Any]:
        return {"n_in": self.n_in, "n_out": self.n_out, "relu_next": self.relu_next}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        if train:
            self._x = x
        y = x @ self.params["W"]
        y += self.params["b"]  # in place: a second array of y's size costs ~7% of inference
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        self.grads = {"W": self._x.T @ dy, "b": dy.sum(axis=0)}
        return dy @ self.params["W"].T


class ReLU(Layer):
    kind = "relu"

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        y = np.maximum(x, 0)
        if train:
            self._y = y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy * (self._y > 0)


class Flatten(Layer):
    kind = "flatten"

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        if train:
            self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy.reshape(self._shape)


class Dropout(Layer):
    """Inverted dropout: scaled at train time so inference is the identity."""

    kind = "dropout"

    def __init__(self, rate: float = 0.5, *, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        self.rate = rate
        self.rng = rng or np.random.default_rng(0)

    def config(self) -> dict[str, Any]:
        return {"rate": self.rate}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        if not train:
            return x
        if self.rate == 0:
            self._mask = None
            return x
        keep = 1.0 - self.rate
        self._mask = (self.rng.random(x.shape, dtype=F32) < keep).astype(x.dtype) / keep
        return x * self._mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy if self._mask is None else dy * self._mask


class Conv2D(Layer):
    """Stride-1 convolution by im2col: one big matmul over the whole batch.

    Weights are HWIO, (k, k, c_in, c_out), so a patch flattened as (kh, kw, c)
    multiplies `W.reshape(-1, c_out)` directly.
    """

    kind = "conv2d"

    def __init__(self, c_in: int, c_out: int, k: int = 3, pad: int = 1, *,
                 rng: np.random.Generator | None = None) -> None:
        super().__init__()
        self.c_in, self.c_out, self.k, self.pad = c_in, c_out, k, pad
        rng = rng or np.random.default_rng(0)
        fan_in = k * k * c_in
        self.params = {"W": he_normal(rng, (k, k, c_in, c_out), fan_in),
                       "b": np.zeros(c_out, F32)}
        self.input_grad = True  # the first layer needs no dx: the network turns it off

    def config(self) -> dict[str, Any]:
        return {"c_in": self.c_in, "c_out": self.c_out, "k": self.k, "pad": self.pad}

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """The height and width of this convolution's output for an h x w input."""
        return h + 2 * self.pad - self.k + 1, w + 2 * self.pad - self.k + 1

    def _cols(self, x: np.ndarray, patch_major: bool = False,
              pool_order: bool = False) -> np.ndarray:
        """Patches as rows ordered (kh, kw, c), one per output pixel: in the order (image,
        row, column), or with `pool_order` (row parity, image, row pair, column), the order
        forward_pooled pools in. Hand-made padding and strides: np.pad and
        sliding_window_view cost ~30 and ~15 us a call, most of a single image's conv.

        The copy is the cost, and it is fast when its innermost run is long: k * c_in
        values per row, or with `patch_major` one output row's wo values (a transposed
        view then; 3x faster for the first conv, where c_in = 1).
        """
        n, h, w, c = x.shape
        k, p = self.k, self.pad
        ho, wo = self.output_size(h, w)
        xp = np.zeros((n, h + 2 * p, w + 2 * p, c), x.dtype)
        xp[:, p:p + h, p:p + w, :] = x
        sn, sh, sw, sc = xp.strides  # views of the fresh buffer xp (as_strided costs ~4 us)
        if pool_order:
            pixels, pixel_strides = (2, n, ho // 2, wo), (sh, sn, 2 * sh, sw)
        else:
            pixels, pixel_strides = (n, ho, wo), (sn, sh, sw)
        patch, patch_strides = (k, k, c), (sh, sw, sc)
        if patch_major:
            win = np.ndarray(patch + pixels, xp.dtype, xp, 0, patch_strides + pixel_strides)
            return win.reshape(k * k * c, -1).T
        win = np.ndarray(pixels + patch, xp.dtype, xp, 0, pixel_strides + patch_strides)
        return win.reshape(-1, k * k * c)

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        n, h, w, _ = x.shape
        ho, wo = self.output_size(h, w)
        # Training keeps the row-major patches its backward pass (and bit-for-bit
        # reproducibility of the recorded runs) was written for.
        cols = self._cols(x, patch_major=not train and wo > self.k * self.c_in)
        y = cols @ self.params["W"].reshape(-1, self.c_out)
        y += self.params["b"]
        if train:
            self._cols_cache, self._x_shape = cols, x.shape
        return y.reshape(n, ho, wo, self.c_out)

    def pools_evenly(self, x_shape: tuple[int, ...]) -> bool:
        """Whether this convolution's output of an input this shape has even sides, as
        MaxPool2 (and forward_pooled) needs."""
        _, h, w, _ = x_shape
        ho, wo = self.output_size(h, w)
        return ho % 2 == 0 and wo % 2 == 0

    def forward_pooled(self, x: np.ndarray) -> np.ndarray:
        """This convolution then MaxPool2, at inference, in one step and the same numbers:
        its output pixels come in pool_order, so pooling is the max of two contiguous halves
        then of neighbouring pairs (a quarter of MaxPool2's cost on the 28x28 layer), and
        the bias is added after pooling, to a quarter of the values (a max commutes with
        adding a constant, rounding included). A batch's forward pass: 15% less time."""
        n, h, w, _ = x.shape
        ho, wo = self.output_size(h, w)
        cols = self._cols(x, patch_major=wo > self.k * self.c_in, pool_order=True)
        y = cols @ self.params["W"].reshape(-1, self.c_out)
        halves = y.reshape(2, -1, 2, self.c_out)  # (row parity, pixel pair, column parity, c)
        rows = np.maximum(halves[0], halves[1])
        pooled = np.maximum(rows[:, 0], rows[:, 1])
        pooled += self.params["b"]
        return pooled.reshape(n, ho // 2, wo // 2, self.c_out)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        dy2 = dy.reshape(-1, self.c_out)
        W2 = self.params["W"].reshape(-1, self.c_out)
        self.grads = {"W": (self._cols_cache.T @ dy2).reshape(self.params["W"].shape),
                      "b": dy2.sum(axis=0)}
        self._cols_cache = None
        if not self.input_grad:
            return None
        return self._col2im(dy2 @ W2.T, dy.shape)

    def _col2im(self, dcols: np.ndarray, dy_shape: tuple[int, ...]) -> np.ndarray:
        """Scatter-add patch gradients back: k*k vectorised adds, no loop over images."""
        n, ho, wo, _ = dy_shape
        k, p = self.k, self.pad
        _, h, w, c = self._x_shape
        dcols = dcols.reshape(n, ho, wo, k, k, c)
        dxp = np.zeros((n, h + 2 * p, w + 2 * p, c), dcols.dtype)
        for i in range(k):
            for j in range(k):
                dxp[:, i:i + ho, j:j + wo, :] += dcols[:, :, :, i, j, :]
        return dxp[:, p:p + h, p:p + w, :] if p else dxp


class MaxPool2(Layer):
    """2x2 max-pooling, stride 2 (H and W must be even)."""

    kind = "maxpool2"

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        n, h, w, c = x.shape
        xr = x.reshape(n, h // 2, 2, w // 2, 2, c)
        # Elementwise maxima of the four corners: 3x faster than .max(axis=(2, 4)).
        y = np.maximum(np.maximum(xr[:, :, 0, :, 0], xr[:, :, 0, :, 1]),
                       np.maximum(xr[:, :, 1, :, 0], xr[:, :, 1, :, 1]))
        if train:
            self._mask = xr == y[:, :, None, :, None, :]
            self._x_shape = x.shape
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        mask = self._mask
        if np.count_nonzero(mask) != dy.size:
            # Ties share the gradient, so it stays a valid subgradient (rare: checked globally).
            mask = mask / mask.sum(axis=(2, 4), keepdims=True, dtype=dy.dtype)
        dx = mask * dy[:, :, None, :, None, :]
        return dx.reshape(self._x_shape)


class BatchNorm(Layer):
    """Batch normalisation over every axis but the last (features or channels)."""

    kind = "batchnorm"

    def __init__(self, n: int, momentum: float = 0.9, eps: float = 1e-5) -> None:
        super().__init__()
        self.n, self.momentum, self.eps = n, momentum, eps
        self.params = {"gamma": np.ones(n, F32), "beta": np.zeros(n, F32)}
        self.state = {"mean": np.zeros(n, F32), "var": np.ones(n, F32)}

    def config(self) -> dict[str, Any]:
        return {"n": self.n, "momentum": self.momentum, "eps": self.eps}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        g, b = self.params["gamma"], self.params["beta"]
        if not train:
            scale, shift = self.affine()
            return x * scale + shift
        axes = tuple(range(x.ndim - 1))
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        m = self.momentum
        self.state["mean"] = (m * self.state["mean"] + (1 - m) * mean).astype(F32)
        self.state["var"] = (m * self.state["var"] + (1 - m) * var).astype(F32)
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype)
        xhat = (x - mean) * inv_std
        self._xhat, self._inv_std = xhat, inv_std
        return xhat * g + b

    def affine(self) -> tuple[np.ndarray, np.ndarray]:
        """(scale, shift): at inference the layer is `x * scale + shift`."""
        scale = self.params["gamma"] / np.sqrt(self.state["var"] + self.eps)
        return scale, self.params["beta"] - self.state["mean"] * scale

    def backward(self, dy: np.ndarray) -> np.ndarray:
        axes = tuple(range(dy.ndim - 1))
        xhat = self._xhat
        dgamma = (dy * xhat).sum(axis=axes)
        dbeta = dy.sum(axis=axes)
        self.grads = {"gamma": dgamma, "beta": dbeta}
        m = dy.size // dy.shape[-1]
        dxhat = dy * self.params["gamma"]
        return (self._inv_std / m) * (
            m * dxhat - dxhat.sum(axis=axes) - xhat * (dxhat * xhat).sum(axis=axes)
        )


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls for cls in (Dense, ReLU, Flatten, Dropout, Conv2D, MaxPool2, BatchNorm)
}
