"""The training recipes: what `cnn`, `mlp` and `seed` mean, in one place.

Training (`python -m training train`), the training-throughput benchmark
(`python -m tools.bench_model --train-arch`) and the model card all read an
architecture's recipe from here; `TrainConfig`'s own defaults are generic, and
the layer builders' defaults (`digitnet.network`) are not a recipe either.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np
from digitnet.network import ARCHITECTURES, IMAGE_SHAPE, Network

from .train import TrainConfig

# Per-architecture recipes; command-line flags override them.
# The cnn recipe is the lean CNN (16/32 channels): a third of the wider one's work per
# image, so the API's single-image forward fits its latency budget.
RECIPES: dict[str, TrainConfig] = {
    "cnn": TrainConfig(arch="cnn", epochs=20, renormalize=True,
                       arch_options={"c1": 16, "c2": 32, "hidden": 128}),
    "mlp": TrainConfig(arch="mlp", epochs=20, lr=1e-3, batch_size=128),
    # The demo's network and training: no augmentation, plain SGD.
    "seed": TrainConfig(arch="seed", epochs=10, optimizer="sgd", lr=0.1, batch_size=64,
                        weight_decay=0.0, warmup_epochs=0.0, augment=False),
}


class OptionError(ValueError):
    """An --option that the architecture does not take, or a value it cannot use."""


def _builder_defaults(arch: str) -> dict[str, Any]:
    """The architecture's options: its layer builder's keyword arguments and defaults."""
    params = inspect.signature(ARCHITECTURES[arch]).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def option_types(arch: str) -> dict[str, type]:
    """`{'c1': int, ..., 'dropout': float}` for cnn, from the builder's defaults."""
    return {name: type(default) for name, default in _builder_defaults(arch).items()}


def arch_options(arch: str) -> dict[str, Any]:
    """Every option of `arch` with the value its recipe trains with."""
    return resolved(arch, RECIPES[arch].arch_options)


def resolved(arch: str, options: dict[str, Any]) -> dict[str, Any]:
    """Every option of `arch`: these, else its builder's defaults."""
    return {**_builder_defaults(arch), **options}


def describe_options(arch: str) -> str:
    """'c1=16 c2=32 ... dropout=0.4' (the recipe's values), or 'none'."""
    return " ".join(f"{k}={v}" for k, v in arch_options(arch).items()) or "none"


def parse_options(arch: str, items: list[str]) -> dict[str, int | float]:
    """`NAME=VALUE` strings for `arch` as a dict; raise OptionError naming the valid names
    for a name the architecture does not take, or a value of the wrong kind (an integer
    option given 0.5), out of range (a dropout rate of 1), or that cannot build a network."""
    types = option_types(arch)
    valid = f"valid for {arch}: {describe_options(arch)} (the recipe's values)" if types \
        else f"{arch} takes no options"
    options: dict[str, int | float] = {}
    for item in items:
        name, sep, text = (s.strip() for s in item.partition("="))
        if not sep or not name or not text:
            raise OptionError(f"--option expects NAME=VALUE, got {item!r}; {valid}")
        if name not in types:
            raise OptionError(f"--option {name}: unknown option; {valid}")
        kind = types[name]
        try:
            value = kind(text)
        except ValueError:
            raise OptionError(f"--option {name} takes {'an integer' if kind is int else 'a number'}"
                              f", got {text!r}") from None
        if kind is int and value < 1:
            raise OptionError(f"--option {name} must be at least 1, got {text}")
        upper = 1 if name == "dropout" else math.inf  # a rate; other floats: any size
        if kind is float and not 0 <= value < upper:
            raise OptionError(f"--option {name} must be in [0, {upper}), got {text}")
        options[name] = value
    try:  # what the checks above miss (an even kernel changes the shapes): one image through
        Network.build(arch, seed=0, **{**RECIPES[arch].arch_options, **options}).forward(
            np.zeros((1, *IMAGE_SHAPE), np.float32))
    except (ValueError, TypeError) as exc:
        raise OptionError(f"--option {' '.join(items)}: cannot build {arch}: {exc}") from None
    return options


def recipe_notes(config: dict[str, Any]) -> list[str]:
    """Statements about how a recipe was chosen that hold for every run of it, for the
    model card: the card is regenerated on every run, so nothing run-specific goes here."""
    notes = []
    if (config.get("arch") == "cnn"
            and resolved("cnn", config.get("arch_options", {})) == arch_options("cnn")):
        notes.append(
            "Why this network: the lean CNN (16/32 channels) was chosen over the wider "
            "32/64-channel one for the API's latency budget (a third of the work per image), "
            "at some cost in test accuracy; see training/README.md.")
    if config.get("augment") and config.get("renormalize"):
        notes.append(
            "Data hygiene: the MNIST *test* set, and canvas sets built from test digits, guided "
            "several choices of this recipe and of the preprocessing (the renormalize step "
            "among them, `training/augment.py`; training/README.md lists them): the "
            "test figures above are development figures, optimistic by an amount not measured. "
            "A clean comparison uses the validation split and a canvas set "
            "built from the run's own validation digits (`python -m training.canvas_eval "
            "--data-dir ../shared/datasets/mnist --model DIR --digits val`).")
    return notes
