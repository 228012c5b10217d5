"""The shipped model on the official MNIST test set: the accuracy and calibration we claim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from digitnet.modelfile import LoadedModel, load_model

from tools.paths import SHIPPED_MODEL
from training.calibrate import expected_calibration_error
from training.idx import load_split


@pytest.fixture(scope="module")
def shipped() -> LoadedModel:
    """Loaded once: the predictions and the manifest's claims come from the same load."""
    return load_model(SHIPPED_MODEL)


@pytest.fixture(scope="module")
def predictions(shipped: LoadedModel, mnist_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    net = shipped.network
    test = load_split(mnist_dir, "t10k")
    probs = net.predict_proba(test.images)
    return probs, test.labels


def test_shipped_model_accuracy(predictions) -> None:
    probs, labels = predictions
    accuracy = float((probs.argmax(axis=1) == labels).mean())
    assert accuracy >= 0.994, f"MNIST test accuracy {accuracy:.4f} < 0.994"


def test_shipped_model_is_calibrated(predictions) -> None:
    probs, labels = predictions
    ece = expected_calibration_error(probs, labels)
    assert ece < 0.01, f"expected calibration error {ece:.4f} >= 1%"


def test_manifest_metrics_match_a_fresh_evaluation(shipped, predictions) -> None:
    probs, labels = predictions
    claimed = shipped.manifest["metrics"]["test_accuracy"]
    assert float((probs.argmax(axis=1) == labels).mean()) == pytest.approx(claimed, abs=1e-9)
