"""Fixtures shared by the suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The MNIST IDX files: `$DATA_DIR` (the Makefile exports it), else the Makefile's default."""
    data_dir = Path(os.environ.get("DATA_DIR", ROOT.parent / "shared" / "datasets" / "mnist"))
    if not (data_dir / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST files not found in {data_dir} (set DATA_DIR)")
    return data_dir
