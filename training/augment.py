"""Random distortions of MNIST digits, vectorised over the batch in NumPy.

Why: people draw digits slanted, squashed, wobbly, with markers or fine pens.
Each image gets one random affine map (rotation, scale, shear, shift) plus,
for a share of the batch, a smooth elastic displacement field (Simard et al.
2003), both applied in a single bilinear resampling; a share of the batch
also gets its strokes thickened (grey dilation) or thinned (grey erosion).
Each image's peak is then stretched to 1, as `normalize_digit` does.

Re-normalising (`renormalize=True`) sends the distorted digits back through
`digitnet.preprocess.normalize_batch`, so training sees exactly what inference sees,
for ~4 s more per 55k epoch; it scored better (training/README.md, "The test figures
are optimistic", has the figures and why they flatter). The shipped CNN's recipe
(`training.recipes`) turns it on; the dataclass default stays off so that other recipes
keep their recorded results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from digitnet.preprocess import SIZE, normalize_batch

# The geometric middle of the 28x28 pixel grid (pixels 0..27), which rotation and scaling
# keep fixed; not preprocess.CENTRE (14.0), where normalisation puts the centre of mass.
FIELD_MIDDLE = 13.5
CHUNK = 2048  # images per vectorised step: bounds memory for whole-epoch calls


@dataclass(frozen=True)
class AugmentConfig:
    rotate_deg: float = 12.0
    scale: float = 0.12  # +-12 % overall size
    aspect: float = 0.08  # +-8 % extra width vs height
    shear: float = 0.15  # horizontal shear factor (slant)
    shift_px: float = 2.5
    elastic_p: float = 0.5
    elastic_rms_px: float = 1.5  # RMS of the displacement field at full strength
    elastic_sigma: float = 4.0
    dilate_p: float = 0.2  # thicker strokes; a third of them with a 3x3 element
    erode_p: float = 0.15  # thinner strokes (2x2 element)
    renormalize: bool = False  # re-run MNIST normalisation after distorting


DEFAULT = AugmentConfig()


def augment_batch(
    images: np.ndarray, rng: np.random.Generator, config: AugmentConfig = DEFAULT
) -> np.ndarray:
    """Distort (N, 28, 28) float32 images in [0, 1]; every random draw comes from rng."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3 or images.shape[1:] != (SIZE, SIZE):
        raise ValueError(f"expected (N, 28, 28) images, got shape {images.shape}")
    out = np.empty_like(images)
    for start in range(0, len(images), CHUNK):
        out[start : start + CHUNK] = _augment_chunk(images[start : start + CHUNK], rng, config)
    return normalize_batch(out) if config.renormalize else out


def _augment_chunk(
    images: np.ndarray, rng: np.random.Generator, config: AugmentConfig
) -> np.ndarray:
    thick = _change_thickness(images, rng, config)
    src_y, src_x = _affine_sources(len(images), rng, config)
    dy, dx = _elastic_fields(len(images), rng, config)
    warped = np.clip(_bilinear(thick, src_y + dy, src_x + dx), 0.0, 1.0)
    return _stretch_peak(warped)


def _stretch_peak(images: np.ndarray) -> np.ndarray:
    """Peak ink to 1, as normalize_digit does at inference (erosion greys strokes)."""
    peak = images.max(axis=(1, 2), keepdims=True)
    return images / np.where(peak > 0, peak, 1)


def _change_thickness(
    images: np.ndarray, rng: np.random.Generator, config: AugmentConfig
) -> np.ndarray:
    """Grey dilation / erosion on random subsets (max / min over shifted copies)."""
    u = rng.random(len(images))
    big = rng.random(len(images)) < 1 / 3
    dilate2 = u < config.dilate_p
    erode = (u >= config.dilate_p) & (u < config.dilate_p + config.erode_p)
    out = images.copy()
    if dilate2.any():
        out[dilate2 & ~big] = _morph(images[dilate2 & ~big], 2, np.maximum)
        out[dilate2 & big] = _morph(images[dilate2 & big], 3, np.maximum)
    if erode.any():
        out[erode] = _morph(images[erode], 2, np.minimum)
    return out


def _morph(images: np.ndarray, size: int, combine: np.ufunc) -> np.ndarray:
    """Max or min over a size x size square, zero padded."""
    before = (size - 1) // 2
    padded = np.pad(images, ((0, 0), (before, size - 1 - before), (before, size - 1 - before)))
    out = padded[:, :SIZE, :SIZE].copy()
    for dy in range(size):
        for dx in range(size):
            combine(out, padded[:, dy : dy + SIZE, dx : dx + SIZE], out=out)
    return out


def _affine_sources(
    n: int, rng: np.random.Generator, config: AugmentConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Source coordinates (y, x) of every output pixel under a random inverse affine map."""
    angle = np.deg2rad(rng.uniform(-config.rotate_deg, config.rotate_deg, n))
    scale = 1 + rng.uniform(-config.scale, config.scale, n)
    aspect = 1 + rng.uniform(-config.aspect, config.aspect, n)
    shear = rng.uniform(-config.shear, config.shear, n)
    shift = rng.uniform(-config.shift_px, config.shift_px, (n, 2))
    sy, sx = scale / np.sqrt(aspect), scale * np.sqrt(aspect)
    cos, sin = np.cos(angle), np.sin(angle)
    # forward map on (y, x) offsets: rotation @ shear (x += shear * y) @ diag(sy, sx)
    rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    shear_scale = np.zeros((n, 2, 2))
    shear_scale[:, 0, 0], shear_scale[:, 1, 0], shear_scale[:, 1, 1] = sy, shear * sy, sx
    forward = rotation @ shear_scale
    inverse = np.linalg.inv(forward).astype(np.float32)
    grid_y, grid_x = (np.mgrid[0:SIZE, 0:SIZE].reshape(2, 1, -1) - FIELD_MIDDLE).astype(np.float32)
    rel_y = grid_y - shift[:, :1].astype(np.float32)
    rel_x = grid_x - shift[:, 1:].astype(np.float32)
    src_y = inverse[:, 0, :1] * rel_y + inverse[:, 0, 1:] * rel_x + FIELD_MIDDLE
    src_x = inverse[:, 1, :1] * rel_y + inverse[:, 1, 1:] * rel_x + FIELD_MIDDLE
    return src_y.reshape(n, SIZE, SIZE), src_x.reshape(n, SIZE, SIZE)


def _gaussian_matrix(sigma: float) -> np.ndarray:
    """Row-normalised Gaussian smoothing as a (28, 28) matrix: M @ field smooths rows."""
    index = np.arange(SIZE)
    weights = np.exp(-((index[:, None] - index[None, :]) ** 2) / (2 * sigma**2))
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def _elastic_fields(
    n: int, rng: np.random.Generator, config: AugmentConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random displacement fields (zero for the images not chosen)."""
    chosen = np.flatnonzero(rng.random(n) < config.elastic_p)
    strength = rng.uniform(0.3, 1.0, len(chosen)).astype(np.float32) * config.elastic_rms_px
    noise = rng.uniform(-1, 1, (2, len(chosen), SIZE, SIZE)).astype(np.float32)
    smooth_matrix = _gaussian_matrix(config.elastic_sigma)
    smooth = smooth_matrix @ noise @ smooth_matrix.T
    rms = np.sqrt((smooth**2).mean(axis=(0, 2, 3))) + 1e-8
    fields = np.zeros((2, n, SIZE, SIZE), dtype=np.float32)
    fields[:, chosen] = smooth * (strength / rms)[None, :, None, None]
    return fields[0], fields[1]


def _bilinear(images: np.ndarray, src_y: np.ndarray, src_x: np.ndarray) -> np.ndarray:
    """Sample images at fractional coordinates; outside the field is background (0)."""
    n = len(images)
    side = SIZE + 2
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1))).ravel()
    y = np.clip(src_y.reshape(n, -1) + 1, 0, side - 1.001)
    x = np.clip(src_x.reshape(n, -1) + 1, 0, side - 1.001)
    y0, x0 = y.astype(np.int32), x.astype(np.int32)
    wy, wx = y - y0, x - x0
    top = y0 * side + x0 + (np.arange(n, dtype=np.int32) * side * side)[:, None]
    upper = padded.take(top) * (1 - wx) + padded.take(top + 1) * wx
    lower = padded.take(top + side) * (1 - wx) + padded.take(top + side + 1) * wx
    return (upper * (1 - wy) + lower * wy).reshape(n, SIZE, SIZE)


def main() -> None:
    """Time a whole 55k-image epoch on this machine: `python -m training.augment`."""
    import argparse
    import time

    argparse.ArgumentParser(description="Time augment_batch over a 55,000-image epoch "
                            "(random images, batches of 128 and one of 55,000).").parse_args()
    rng = np.random.default_rng(0)
    images = rng.random((55_000, SIZE, SIZE), dtype=np.float32)
    for batch in (128, 55_000):
        start = time.perf_counter()
        for i in range(0, len(images), batch):
            augment_batch(images[i : i + batch], rng)
        seconds = time.perf_counter() - start
        print(f"augment_batch, batches of {batch}: 55,000 images in {seconds:.2f} s")


if __name__ == "__main__":
    main()
