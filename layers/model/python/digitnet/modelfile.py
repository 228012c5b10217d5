"""Model files: `model.npz` (weights, no pickles) + `manifest.json` (what they mean).

The manifest records the architecture (every layer's config and array shapes),
the preprocessing version, the sha256 of `model.npz`, the softmax temperature
and the metrics, so a loader can prove the weights are the ones described.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .layers import BatchNorm
from .losses import TEMPERATURE_RANGE
from .network import IMAGE_SHAPE, N_CLASSES, Network
from .preprocess import PREPROCESS_VERSION

WEIGHTS_FILE = "model.npz"
MANIFEST_FILE = "manifest.json"
CARD_FILE = "MODEL_CARD.md"  # documentation, written by training.report; not verified
FORMAT_VERSION = 1
CLASSES = list(range(N_CLASSES))  # logit i is digit i
# Layer settings that the layers take whatever they are: (rule as said, test of a number).
CONFIG_RULES: dict[tuple[str, str], tuple[str, Callable[[float], bool]]] = {
    # sqrt(var + eps): models use 1e-5 to 1e-3; a huge eps (1e30 passed '< inf') makes every
    # answer the same digit, and past float32's range NaN.
    ("batchnorm", "eps"): ("a number in (0, 0.1]", lambda x: 0 < x <= 0.1),
    ("dropout", "rate"): ("a number in [0, 1)", lambda x: 0 <= x < 1),  # scales by 1/(1-rate)
}


class ModelFileError(Exception):
    """The model directory is missing, corrupt or does not match its manifest."""


@dataclass(frozen=True)
class LoadedModel:
    """`network` is the inference copy (BatchNorm folded, `Network.for_inference`): the
    manifest describes the file's layers, the network computes the same function."""

    network: Network
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def version(self) -> str:
        return self.manifest["version"]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The arrays as an .npz file's bytes (no pickles), to hash as written, not read back."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def save_model(network: Network, directory: str | Path, *, name: str, version: str,
               metrics: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write model.npz and manifest.json into `directory`; return the manifest written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    weights = npz_bytes(network.arrays())
    (out / WEIGHTS_FILE).write_bytes(weights)
    manifest = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "version": version,
        "input": {"shape": list(IMAGE_SHAPE), "dtype": "float32", "range": [0, 1],
                  "ink": "bright"},
        "classes": list(CLASSES),
        "architecture": network.spec(),
        "preprocess_version": PREPROCESS_VERSION,
        "weights_file": WEIGHTS_FILE,
        "weights_sha256": sha256_hex(weights),
        "temperature": network.temperature,
        "metrics": metrics,
        **(extra or {}),
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest.json of a model directory as a JSON object, not yet checked against
    this code (`load_model` does that: a model of an older preprocessing still has a name)."""
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise ModelFileError(f"missing manifest: {path}")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"manifest {path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ModelFileError(f"manifest {path} is not a JSON object")
    return manifest


def _check_manifest(manifest: dict[str, Any], path: Path) -> None:
    for key in ("format_version", "name", "version", "architecture", "weights_sha256",
                "temperature"):
        if key not in manifest:
            raise ModelFileError(f"manifest {path} lacks {key!r}")
    problem = _manifest_problem(manifest)
    if problem:
        raise ModelFileError(f"manifest {path}: {problem}")


def _manifest_problem(manifest: dict[str, Any]) -> str | None:
    """What the checksum cannot vouch for: the manifest's own fields that change answers."""
    if manifest["format_version"] != FORMAT_VERSION:
        return f"format_version {manifest['format_version']!r}; this code reads {FORMAT_VERSION}"
    trained = manifest.get("preprocess_version")
    if trained != PREPROCESS_VERSION:  # the network would see drawings it was not taught
        return (f"model was trained with preprocessing {trained!r} but this code implements "
                f"{PREPROCESS_VERSION!r}")
    if manifest.get("classes", CLASSES) != CLASSES:
        return f"classes must be 0..{N_CLASSES - 1} in order, got {manifest['classes']!r}"
    temperature, (lo, hi) = manifest["temperature"], TEMPERATURE_RANGE
    if not (is_number(temperature) and lo <= temperature <= hi):
        return (f"temperature must be a number in [{lo}, {hi}] (the range calibration "
                f"searches), got {temperature!r}")
    layers = manifest["architecture"]
    if not isinstance(layers, list) or not all(
            isinstance(layer, dict) and isinstance(layer.get("config", {}), dict)
            and isinstance(layer.get("arrays", {}), dict) for layer in layers):
        return "architecture must be a list of layers, each with a config and arrays object"
    for i, layer in enumerate(layers):
        problem = _layer_problem(layer)
        if problem:
            return f"layer {i}: {problem}"
    weights_file = manifest.get("weights_file", WEIGHTS_FILE)
    if not isinstance(weights_file, str) or Path(weights_file).name != weights_file:
        return f"weights_file must be a file name in the model directory, got {weights_file!r}"
    return None


def is_number(value: Any) -> bool:
    """A JSON number as json.loads gives it (True is an int to Python, not to JSON)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _layer_problem(layer: dict[str, Any]) -> str | None:
    """A config value (CONFIG_RULES) or an array shape the layer would take and misuse."""
    config = layer.get("config", {})
    for (kind, key), (rule, holds) in CONFIG_RULES.items():
        if layer.get("type") == kind and key in config \
                and not (is_number(config[key]) and holds(config[key])):
            return f"{kind} {key} must be {rule}, got {config[key]!r}"
    for name, shape in layer.get("arrays", {}).items():
        if not isinstance(shape, list) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
            return (f"the shape of array {name} must be a list of non-negative integers, "
                    f"got {shape!r}")
    return None


def read_weights(path: Path, expected_sha256: str) -> dict[str, np.ndarray]:
    """Hash and parse the same bytes: the file is read once, and what is loaded is what
    was verified."""
    if not path.is_file():
        raise ModelFileError(f"missing weights file: {path}")
    data = path.read_bytes()
    actual = sha256_hex(data)
    if actual != expected_sha256:
        raise ModelFileError(
            f"checksum mismatch for {path}: expected sha256 {expected_sha256}, file has {actual}"
        )
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"cannot read weights {path}: {exc}") from exc


def array_mismatch(expected: Mapping[str, tuple[int, ...]], arrays: Mapping[str, np.ndarray],
                   what: str) -> str | None:
    """How a file's `arrays` differ from the names and shapes `what` (the manifest, the
    network) expects, or None: one wording for every check of a file's arrays."""
    missing = sorted(expected.keys() - arrays.keys())
    unexpected = sorted(arrays.keys() - expected.keys())
    if missing or unexpected:
        names = [f"the file is missing {missing}"] if missing else []
        names += [f"the {what} has no {unexpected}"] if unexpected else []
        return "; ".join(names)
    wrong = [f"{k}: the {what} has {list(shape)}, the file {list(arrays[k].shape)}"
             for k, shape in expected.items() if arrays[k].shape != tuple(shape)]
    return "shape mismatch for " + "; ".join(wrong) if wrong else None


def array_value_problem(arrays: Mapping[str, np.ndarray]) -> str | None:
    """Which arrays are not float32 or hold a NaN or an infinity, or None: the network
    computes in float32 (anything else was converted silently), and one NaN weight makes
    every answer NaN."""
    wrong = [f"{k} ({v.dtype})" for k, v in arrays.items() if v.dtype != np.float32]
    if wrong:
        return f"arrays must be float32: {', '.join(wrong)}"
    bad = [k for k, v in arrays.items() if not np.isfinite(v).all()]
    return f"arrays must be finite: NaN or infinity in {', '.join(bad)}" if bad else None


def _variance_problem(network: Network) -> str | None:
    """BatchNorm divides by sqrt(var + eps): a negative running variance gives NaN, or a
    scale the training never had."""
    bad = [f"{i}.var" for i, layer in enumerate(network.layers)
           if isinstance(layer, BatchNorm) and (layer.state["var"] < 0).any()]
    return f"BatchNorm running variances must be >= 0: {', '.join(bad)}" if bad else None


def shapes_of(arrays: Mapping[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    return {k: v.shape for k, v in arrays.items()}


def _manifest_shapes(manifest: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The arrays the manifest lists, keyed as `Network.arrays` keys them."""
    return {f"{i}.{k}": tuple(shape) for i, layer in enumerate(manifest["architecture"])
            for k, shape in layer.get("arrays", {}).items()}


def load_model(directory: str | Path) -> LoadedModel:
    """Load and verify a model directory, its preprocessing version included (see
    _manifest_problem); raise ModelFileError on any mismatch."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelFileError(f"model directory not found: {directory}")
    manifest = read_manifest(directory)
    _check_manifest(manifest, directory / MANIFEST_FILE)
    arrays = read_weights(directory / manifest.get("weights_file", WEIGHTS_FILE),
                           manifest["weights_sha256"])
    problem = array_mismatch(_manifest_shapes(manifest), arrays, "manifest")
    if problem:
        raise ModelFileError(f"weights do not match manifest: {problem}")
    problem = array_value_problem(arrays)
    if problem:
        raise ModelFileError(f"weights refused: {problem}")
    try:
        network = Network.from_spec(manifest["architecture"], float(manifest["temperature"]))
    except Exception as exc:  # a config no layer takes (an unknown key, a size out of reach)
        raise ModelFileError(f"manifest architecture is invalid: "
                             f"{type(exc).__name__}: {exc}") from exc
    problem = array_mismatch(shapes_of(network.arrays()), arrays, "network")
    if problem:
        raise ModelFileError(f"layer configs do not fit their arrays: {problem}")
    network.set_arrays(arrays)
    problem = _variance_problem(network)
    if problem:
        raise ModelFileError(f"weights refused: {problem}")
    inference = network.for_inference()
    _check_outputs(inference, len(manifest.get("classes", CLASSES)))
    return LoadedModel(network=inference, manifest=manifest)


def _check_outputs(network: Network, classes: int) -> None:
    """One finite output per class, from layers that chain: a network whose last layer gave
    12 loaded and answered, one whose finite weights overflow answered NaN. One pass of a
    blank image shows all three (well under a millisecond for the shipped CNN), whatever
    kinds of layer come last."""
    try:
        logits = network.logits(np.zeros((1, *IMAGE_SHAPE), np.float32))
    except (ValueError, TypeError, IndexError) as exc:
        raise ModelFileError(f"the layers do not chain: a {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} "
                             f"image fails in them ({exc})") from exc
    if logits.shape != (1, classes):
        outputs = logits.shape[1] if logits.ndim == 2 else list(logits.shape[1:])
        raise ModelFileError(f"the network gives {outputs} outputs an image, but the manifest "
                             f"has {classes} classes: it needs one output per class")
    if not np.isfinite(logits).all():
        raise ModelFileError("the network's logits for a blank image are not finite (its "
                             "weights overflow float32): every answer would be NaN")
