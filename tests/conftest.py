"""Fixtures shared by the suite, and the one rule for a missing piece: skip or fail."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tools.paths import ROOT


def skip_or_fail(reason: str) -> NoReturn:
    """Skip on a developer's machine, fail in CI (`CI` set: .ci/run sets it), where
    everything is installed and a skip would hide a missing piece behind a green run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI runs every test: a skip there would hide it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The MNIST IDX files: `$DATA_DIR` (the Makefile exports it), else the Makefile's default."""
    data_dir = Path(os.environ.get("DATA_DIR", ROOT.parent / "shared" / "datasets" / "mnist"))
    if not (data_dir / "t10k-images-idx3-ubyte.gz").is_file():
        skip_or_fail(f"MNIST files not found in {data_dir} (set DATA_DIR)")
    return data_dir


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """The predict app in a TestClient whose model loaded; a server error answers 500
    (what API Gateway would return) instead of raising in the test."""
    from api_helpers import api_client  # here, not above: it sets the app's environment

    with api_client() as c:
        yield c


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic MNIST folder (train and t10k, gzipped) for training runs."""
    from test_idx import write_split
    from test_training import synthetic_digits

    d = tmp_path_factory.mktemp("mnist")
    write_split(d, *synthetic_digits(1600, 0), gz=True, split="train")
    write_split(d, *synthetic_digits(1000, 1), gz=True, split="t10k")
    return d
