"""A sequential network of digitnet layers, buildable by name or from a manifest spec."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .layers import (
    LAYER_TYPES,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    MaxPool2,
    ReLU,
)
from .losses import softmax
from .preprocess import SIZE

IMAGE_SHAPE = (SIZE, SIZE)  # what preprocessing makes
N_CLASSES = 10
# Images per inference pass: the CNN's working arrays for a few dozen images stay in the
# CPU caches (shipped CNN, one BLAS thread: 0.056 ms an image, twice that in passes
# of 500 or more). The logits agree to ~1e-5 whatever the pass size (BLAS takes other paths
# for passes of a few images; measured: 7.6e-6 at most, never another digit).
INFERENCE_CHUNK = 32


def unprefixed[T](arrays: Mapping[str, T], prefix: str) -> dict[str, T]:
    """The entries keyed `<prefix><name>`, keyed `<name>`: one set of arrays among others
    in one file (a checkpoint's `net:` and `opt:`, an optimiser's `m.<i>`)."""
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def seed_layers(rng: np.random.Generator) -> list[Layer]:
    """The demo's 784-10-10 MLP, kept as the baseline."""
    return [Flatten(), Dense(784, 10, rng=rng), ReLU(),
            Dense(10, N_CLASSES, relu_next=False, rng=rng)]


def mlp_layers(rng: np.random.Generator, hidden: int = 800, dropout: float = 0.3) -> list[Layer]:
    """Two wide hidden layers with dropout: the best a plain MLP does cheaply."""
    return [
        Flatten(),
        Dense(784, hidden, rng=rng), ReLU(), Dropout(dropout, rng=rng),
        Dense(hidden, hidden, rng=rng), ReLU(), Dropout(dropout, rng=rng),
        Dense(hidden, N_CLASSES, relu_next=False, rng=rng),
    ]


def cnn_layers(rng: np.random.Generator, c1: int = 32, c2: int = 64, hidden: int = 128,
               k1: int = 5, k2: int = 3, dropout: float = 0.4) -> list[Layer]:
    """Two conv-pool-BN-ReLU blocks, then a BN'd dense layer with dropout. These defaults
    are the wider net; the shipped model's sizes are its recipe's (training/recipes.py).

    Pooling before batch-norm and ReLU does their work on a quarter of the values;
    the 3x3 second conv costs a third of a 5x5 one (it dominates training time). The biases
    of the layers before a batch-norm do nothing (it subtracts the mean): their gradient is
    rounding noise, and trained weights hold whatever Adam made of it.
    """
    return [
        Conv2D(1, c1, k1, k1 // 2, rng=rng), MaxPool2(), BatchNorm(c1), ReLU(),
        Conv2D(c1, c2, k2, k2 // 2, rng=rng), MaxPool2(), BatchNorm(c2), ReLU(),
        Flatten(),
        Dense(7 * 7 * c2, hidden, rng=rng), BatchNorm(hidden), ReLU(), Dropout(dropout, rng=rng),
        Dense(hidden, N_CLASSES, relu_next=False, rng=rng),
    ]


def fold_batchnorm(layers: list[Layer]) -> list[Layer]:
    """The same function with fewer steps, for inference: each BatchNorm merged into
    the Dense or Conv2D before it, Dropout (the identity at inference) dropped.

    BN is `x * s + t` at inference, so it becomes weights `W * s` and bias `b * s + t`
    (equal up to float rounding). Across a MaxPool2 only when every s > 0: a max
    commutes with a positive scaling, not with a negative one. Merged layers are new
    objects; the others (ReLU, pooling, an unmerged Dense) are shared with the input,
    so train the original only before folding, never after.
    """
    out: list[Layer] = []
    for layer in layers:
        if isinstance(layer, Dropout):
            continue
        if isinstance(layer, BatchNorm):
            scale, shift = layer.affine()
            target = _fold_target(out, scale)
            if target is not None:
                out[target] = _scaled(out[target], scale, shift)
                continue
        out.append(layer)
    return out


def _fold_target(done: list[Layer], scale: np.ndarray) -> int | None:
    """Index in `done` of the affine layer a BatchNorm of this scale can fold into."""
    i = len(done) - 1
    if i >= 0 and isinstance(done[i], MaxPool2) and bool((scale > 0).all()):
        i -= 1
    if i >= 0 and isinstance(done[i], Dense | Conv2D):
        return i
    return None


def _scaled(affine: Layer, scale: np.ndarray, shift: np.ndarray) -> Layer:
    """A copy of a Dense or Conv2D computing `affine(x) * scale + shift` (a shallow copy:
    rebuilding it would draw random initial weights only to replace them)."""
    merged = copy.copy(affine)
    merged.params = {"W": (affine.params["W"] * scale).astype(np.float32),
                     "b": (affine.params["b"] * scale + shift).astype(np.float32)}
    merged.grads = {}
    return merged


ARCHITECTURES: dict[str, Callable[..., list[Layer]]] = {
    "seed": seed_layers,
    "mlp": mlp_layers,
    "cnn": cnn_layers,
}


class Network:
    """Layers in order; input is (N, 28, 28) float32 ink in [0, 1], output 10 logits."""

    def __init__(self, layers: list[Layer], temperature: float = 1.0) -> None:
        self.layers = layers
        self.temperature = float(temperature)
        for layer in layers:  # a first conv with nothing trainable upstream: no input gradient
            if isinstance(layer, Conv2D):
                layer.input_grad = False
            if layer.params:
                break

    @classmethod
    def build(cls, arch: str, seed: int = 0, **options: Any) -> Network:
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {arch!r}; choose from {sorted(ARCHITECTURES)}")
        return cls(ARCHITECTURES[arch](np.random.default_rng(seed), **options))

    @classmethod
    def from_spec(cls, spec: list[dict[str, Any]], temperature: float = 1.0) -> Network:
        """Rebuild the layers a manifest lists (weights freshly initialised)."""
        layers = []
        for entry in spec:
            kind = entry.get("type")
            if kind not in LAYER_TYPES:
                raise ValueError(f"unknown layer type {kind!r}")
            layers.append(LAYER_TYPES[kind](**entry.get("config", {})))
        return cls(layers, temperature)

    def for_inference(self) -> Network:
        """A copy with BatchNorm folded away (see fold_batchnorm): not for training."""
        return Network(fold_batchnorm(self.layers), self.temperature)

    def spec(self) -> list[dict[str, Any]]:
        return [
            {
                "type": layer.kind,
                "config": layer.config(),
                "arrays": {k: list(v.shape) for k, v in layer.arrays().items()},
            }
            for layer in self.layers
        ]

    def arrays(self) -> dict[str, np.ndarray]:
        """All saved arrays keyed `<layer index>.<name>`."""
        return {
            f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.arrays().items()
        }

    def set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        for i, layer in enumerate(self.layers):
            for store in (layer.params, layer.state):
                for k in store:
                    store[k] = np.asarray(arrays[f"{i}.{k}"], dtype=np.float32).copy()

    def parameters(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(value, gradient) pairs after a backward pass, for an optimiser."""
        return [(layer.params[k], layer.grads[k]) for layer in self.layers for k in layer.params]

    def parameter_shapes(self) -> list[tuple[int, ...]]:
        """The shapes of `parameters()`' values, in its order (an optimiser's indices),
        without a backward pass: what a saved optimiser state must fit."""
        return [layer.params[k].shape for layer in self.layers for k in layer.params]

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """Logits (temperature 1); at inference a Conv2D and the MaxPool2 after it go as one
        step, Conv2D.forward_pooled (the same numbers, quicker)."""
        h = np.asarray(x, dtype=np.float32).reshape(-1, *IMAGE_SHAPE, 1)
        layers, i = self.layers, 0
        while i < len(layers):
            layer = layers[i]
            pool_next = i + 1 < len(layers) and isinstance(layers[i + 1], MaxPool2)
            if (not train and pool_next and isinstance(layer, Conv2D)
                    and layer.pools_evenly(h.shape)):
                h = layer.forward_pooled(h)
                i += 2
            else:
                h = layer.forward(h, train)
                i += 1
        return h

    def backward(self, dlogits: np.ndarray) -> None:
        d = dlogits
        for layer in reversed(self.layers):
            d = layer.backward(d)
            if d is None:
                break

    def logits(self, x: np.ndarray, chunk: int | None = INFERENCE_CHUNK) -> np.ndarray:
        """Inference logits (temperature 1), keeping no caches (safe to call concurrently).

        The images go through in passes of `chunk` (None: all at once): the same numbers to
        ~1e-5, with working arrays that stay in the CPU caches.
        """
        images = np.asarray(x, dtype=np.float32).reshape(-1, *IMAGE_SHAPE)
        if chunk is None or len(images) <= chunk:
            return self.forward(images, train=False)
        return np.concatenate([self.forward(images[i : i + chunk], train=False)
                               for i in range(0, len(images), chunk)])

    def predict_proba(self, x: np.ndarray, chunk: int | None = INFERENCE_CHUNK) -> np.ndarray:
        """Calibrated class probabilities (see `logits` for `chunk`)."""
        return softmax(self.logits(x, chunk), self.temperature)
