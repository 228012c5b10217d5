"""IDX loader on tiny generated files, well-formed and malformed."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from training.idx import FILES, IdxError, download, load_split, parse_idx


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_split(directory: Path, images: np.ndarray, labels: np.ndarray, *, gz: bool,
                split: str = "train") -> None:
    pairs = ((f"{split}-images-idx3-ubyte", images), (f"{split}-labels-idx1-ubyte", labels))
    for stem, arr in pairs:
        data = idx_bytes(arr)
        if gz:
            (directory / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / stem).write_bytes(data)


@pytest.fixture
def digits() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    return images, rng.integers(0, 10, 5).astype(np.uint8)


@pytest.mark.parametrize("gz", [True, False])
def test_round_trip(tmp_path: Path, digits, gz: bool) -> None:
    images, labels = digits
    write_split(tmp_path, images, labels, gz=gz)
    split = load_split(tmp_path, "train")
    assert split.images.dtype == np.float32
    np.testing.assert_allclose(split.images * 255, images, atol=1e-4)
    np.testing.assert_array_equal(split.labels, labels)


@pytest.mark.parametrize(("offset", "value"), [(2, 0x0D), (3, 0), (3, 5), (0, 1)])
def test_bad_magic(offset: int, value: int) -> None:
    """Float type code, 0 or 5 dimensions, a non-zero first byte: not MNIST's IDX."""
    data = bytearray(idx_bytes(np.zeros((2, 3), np.uint8)))
    data[offset] = value
    with pytest.raises(IdxError, match="bad magic"):
        parse_idx(bytes(data), "x")


def test_truncated() -> None:
    with pytest.raises(IdxError, match=r"truncated.*\[4, 28, 28\]"):
        parse_idx(idx_bytes(np.zeros((4, 28, 28), np.uint8))[:-10], "x")


def test_trailing_bytes() -> None:
    with pytest.raises(IdxError, match="trailing bytes"):
        parse_idx(idx_bytes(np.zeros(3, np.uint8)) + b"\0", "x")


def test_too_short_for_header() -> None:
    with pytest.raises(IdxError, match="too short"):
        parse_idx(b"\0\0", "x")


def _damage(gz: bytes, how: str) -> bytes:
    if how == "cut":  # EOFError
        return gz[:20]
    damaged = bytearray(gz)
    damaged[10] = 0xFF  # the first deflate block's type becomes the reserved 3: zlib.error
    return bytes(damaged)


@pytest.mark.parametrize("how", ["cut", "bad-deflate"])
def test_corrupt_gzip(tmp_path: Path, digits, how: str) -> None:
    """A damaged .gz is an IdxError naming the file (the CLI's one `error:` line); damaged
    deflate data used to escape as a zlib.error traceback."""
    write_split(tmp_path, *digits, gz=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(_damage(path.read_bytes(), how))
    with pytest.raises(IdxError, match=f"{path}: corrupt gzip stream"):
        load_split(tmp_path, "train")


def test_count_mismatch(tmp_path: Path, digits) -> None:
    images, labels = digits
    write_split(tmp_path, images, labels[:4], gz=True)
    with pytest.raises(IdxError, match="count mismatch: 5 images, 4 labels"):
        load_split(tmp_path, "train")


def test_label_out_of_range(tmp_path: Path, digits) -> None:
    images, _ = digits
    write_split(tmp_path, images, np.full(5, 10, np.uint8), gz=True)
    with pytest.raises(IdxError, match="label 10 out of range"):
        load_split(tmp_path, "train")


def test_images_must_be_a_stack_of_2d_pictures(tmp_path: Path, digits) -> None:
    images, labels = digits
    write_split(tmp_path, images.reshape(5, -1), labels, gz=True)
    with pytest.raises(IdxError, match="expected 3-D images"):
        load_split(tmp_path, "train")


def test_missing_file_mentions_download(tmp_path: Path) -> None:
    with pytest.raises(IdxError, match="--download"):
        load_split(tmp_path, "t10k")


def test_a_failed_download_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(IdxError, match=r"cannot download .*train-images-idx3-ubyte\.gz"):
        download(tmp_path, mirror=(tmp_path / "no-mirror").as_uri() + "/")
    assert not any(tmp_path.iterdir())


def test_download_rejects_a_file_with_the_wrong_checksum(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for stem in FILES:
        (mirror / f"{stem}.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(3, np.uint8))))
    target = tmp_path / "data"
    with pytest.raises(IdxError, match="matches neither"):
        download(target, mirror=mirror.as_uri() + "/")
    assert not any(target.iterdir())  # nothing half-downloaded is left to be trusted


@pytest.mark.parametrize("payload", [b"<html>502 Bad Gateway</html>", b"\x1f\x8b\x08 cut"],
                         ids=["not-gzip", "cut-gzip"])
def test_download_rejects_a_file_that_is_not_gzip(tmp_path: Path, payload: bytes) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for stem in FILES:
        (mirror / f"{stem}.gz").write_bytes(payload)
    target = tmp_path / "data"
    with pytest.raises(IdxError, match="matches neither"):
        download(target, mirror=mirror.as_uri() + "/")
    assert not any(target.iterdir())


def test_download_from_a_mirror_verifies_and_loads(tmp_path: Path, mnist_dir: Path) -> None:
    download(tmp_path, mirror=mnist_dir.resolve().as_uri() + "/")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{s}.gz" for s in FILES)
    assert len(load_split(tmp_path, "t10k").labels) == 10_000


@pytest.mark.parametrize("gz", [True, False])
def test_load_split_records_the_sha256_of_what_it_read(tmp_path: Path, digits, gz: bool) -> None:
    images, labels = digits
    write_split(tmp_path, images, labels, gz=gz, split="t10k")
    suffix = ".gz" if gz else ""
    assert load_split(tmp_path, "t10k").sha256 == {
        f"t10k-images-idx3-ubyte{suffix}": hashlib.sha256(idx_bytes(images)).hexdigest(),
        f"t10k-labels-idx1-ubyte{suffix}": hashlib.sha256(idx_bytes(labels)).hexdigest(),
    }


def test_the_shared_files_are_the_known_ones(mnist_dir: Path) -> None:
    """The digests the manifest records are comparable with FILES: over the uncompressed bytes."""
    read = {**load_split(mnist_dir, "train").sha256, **load_split(mnist_dir, "t10k").sha256}
    assert {name.removesuffix(".gz"): sha for name, sha in read.items()} == FILES
