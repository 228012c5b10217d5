"""Read MNIST IDX files (raw or gzip) and optionally download them.

IDX: a big-endian header (two zero bytes, a type code, the number of
dimensions, then one uint32 per dimension) followed by the raw data.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

UBYTE = 0x08
MIRROR = "https://storage.googleapis.com/cvdf-datasets/mnist/"
# sha256 of the uncompressed files, as listed in the shared dataset's README
# (its train images were rebuilt, so that one differs from the mirror's file) ...
FILES = {
    "train-images-idx3-ubyte": "a92766a91df779f3939d40c57f3297bc9685f69010c0e01acbad1682e5446961",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# ... and the md5 of the original .gz files, as published with MNIST and checked by torchvision.
ORIGINAL_GZ_MD5 = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}


class IdxError(ValueError):
    """An IDX file is missing, malformed or inconsistent with its partner."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, 28, 28) float32 in [0, 1], ink bright
    labels: np.ndarray  # (N,) int64
    # The files read, by name (.gz or not), each with the sha256 of its uncompressed bytes
    # (comparable with FILES): the manifest's provenance. {} for a split made in memory.
    sha256: dict[str, str] = field(default_factory=dict, compare=False)


def _gunzip(data: bytes, name: str) -> bytes:
    """Decompress gzip bytes; a bad header or CRC (OSError), a cut stream (EOFError) or
    damaged deflate data (zlib.error) as an IdxError naming the file."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise IdxError(f"{name}: corrupt gzip stream ({exc})") from exc


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise IdxError(f"missing IDX file: {path}")
    data = path.read_bytes()
    return _gunzip(data, str(path)) if data[:2] == b"\x1f\x8b" else data


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode an unsigned-byte IDX payload into an array of its declared shape."""
    if len(data) < 4:
        raise IdxError(f"{name}: too short for an IDX header ({len(data)} bytes)")
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != UBYTE or not 1 <= ndim <= 4:
        raise IdxError(f"{name}: bad magic number {data[:4].hex()} "
                       "(expected 0000 08 0N: unsigned bytes, 1-4 dimensions)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{name}: truncated header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(shape))
    actual = len(data) - header
    if actual != expected:
        kind = "truncated" if actual < expected else "has trailing bytes"
        raise IdxError(f"{name}: {kind}: header declares shape {list(shape)} = {expected} "
                       f"bytes, found {actual}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _find(data_dir: Path, stem: str) -> Path:
    for candidate in (data_dir / f"{stem}.gz", data_dir / stem):
        if candidate.is_file():
            return candidate
    raise IdxError(f"{stem}(.gz) not found in {data_dir} (python -m training train "
                   "--download fetches MNIST)")


def load_split(data_dir: str | Path, split: str) -> Split:
    """Load 'train' or 't10k' as float32 images in [0, 1] and int64 labels."""
    data_dir = Path(data_dir)
    arrays, digests = [], {}
    for kind in ("images-idx3", "labels-idx1"):
        path = _find(data_dir, f"{split}-{kind}-ubyte")
        data = _read_bytes(path)
        digests[path.name] = hashlib.sha256(data).hexdigest()  # ~35 ms for the 47 MB file
        arrays.append(parse_idx(data, str(path)))
    images, labels = arrays
    if images.ndim != 3 or labels.ndim != 1:
        raise IdxError(f"{split}: expected 3-D images and 1-D labels, got {images.shape} "
                       f"and {labels.shape}")
    if len(images) != len(labels):
        raise IdxError(f"{split}: count mismatch: {len(images)} images, {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise IdxError(f"{split}: label {labels.max()} out of range 0-9")
    return Split(images.astype(np.float32) / 255.0, labels.astype(np.int64), digests)


def download(data_dir: str | Path, mirror: str = MIRROR) -> None:
    """Fetch any missing MNIST file; keep it only if it is the original .gz (md5) or
    its uncompressed bytes are the known ones (sha256)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    for stem, sha in FILES.items():
        target = data_dir / f"{stem}.gz"
        if target.is_file() or (data_dir / stem).is_file():
            continue
        tmp, url = target.with_suffix(".part"), f"{mirror}{stem}.gz"
        print(f"downloading {url}", flush=True)
        try:
            _fetch(url, tmp)
            if not _verified(stem, tmp.read_bytes()):
                raise IdxError(f"{stem}: downloaded file matches neither the known sha256 "
                               f"{sha} nor the original md5 {ORIGINAL_GZ_MD5[stem]}")
            tmp.rename(target)
        finally:
            tmp.unlink(missing_ok=True)  # a failed or cut download leaves nothing to trust


def _fetch(url: str, path: Path) -> None:
    """The file at `url` into `path`; URLError, timeouts, resets as an IdxError naming it."""
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, path.open("wb") as fh:
            shutil.copyfileobj(resp, fh)
    except OSError as exc:
        raise IdxError(f"cannot download {url}: {exc}") from exc


def _verified(stem: str, gz_bytes: bytes) -> bool:
    if hashlib.md5(gz_bytes, usedforsecurity=False).hexdigest() == ORIGINAL_GZ_MD5[stem]:
        return True
    try:
        raw = _gunzip(gz_bytes, stem)
    except IdxError:  # not gzip at all: an HTML error page, say
        return False
    return hashlib.sha256(raw).hexdigest() == FILES[stem]
