"""training.augment: seeded, shape-keeping, digit-preserving distortions."""

import numpy as np
import pytest

from training.augment import CHUNK, AugmentConfig, _bilinear, augment_batch

IDENTITY = AugmentConfig(
    rotate_deg=0, scale=0, aspect=0, shear=0, shift_px=0, elastic_p=0, dilate_p=0, erode_p=0
)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """Sixteen synthetic 'digits': thick random strokes in the middle 20x20, peak 1."""
    rng = np.random.default_rng(0)
    images = np.zeros((16, 28, 28), dtype=np.float32)
    for image in images:
        for _ in range(3):
            y0, x0, y1, x1 = rng.integers(6, 22, 4)
            steps = np.linspace(0, 1, 40)
            ys = np.round(y0 + (y1 - y0) * steps).astype(int)
            xs = np.round(x0 + (x1 - x0) * steps).astype(int)
            image[ys, xs] = image[ys + 1, xs] = image[ys, xs + 1] = 1.0
    return images


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_shape_dtype_and_range(digits: np.ndarray) -> None:
    out = augment_batch(digits, np.random.default_rng(1))
    assert out.shape == digits.shape
    assert out.dtype == np.float32
    assert out.min() >= 0
    np.testing.assert_allclose(out.max(axis=(1, 2)), 1.0, atol=1e-6)


def test_same_seed_same_output_and_other_seed_differs(digits: np.ndarray) -> None:
    a = augment_batch(digits, np.random.default_rng(7))
    b = augment_batch(digits, np.random.default_rng(7))
    c = augment_batch(digits, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 0.01


def test_input_is_not_modified(digits: np.ndarray) -> None:
    before = digits.copy()
    augment_batch(digits, np.random.default_rng(1))
    np.testing.assert_array_equal(digits, before)


def test_identity_config_changes_nothing(digits: np.ndarray) -> None:
    out = augment_batch(digits, np.random.default_rng(1), IDENTITY)
    np.testing.assert_allclose(out, digits, atol=1e-5)


def test_distortions_keep_the_digit_recognisable(digits: np.ndarray) -> None:
    out = augment_batch(digits, np.random.default_rng(2))
    correlations = [correlation(a, b) for a, b in zip(out, digits, strict=True)]
    assert np.mean(correlations) > 0.3
    assert np.mean(correlations) < 0.99  # but something did change
    for image in out:
        assert image.sum() > 0


def test_bilinear_sampler_shifts_and_interpolates() -> None:
    image = np.zeros((1, 28, 28), dtype=np.float32)
    image[0, 10, 12] = 1.0
    grid_y, grid_x = np.mgrid[0:28, 0:28].astype(np.float32)
    shifted = _bilinear(image, grid_y[None] - 2, grid_x[None] - 3)
    assert shifted[0, 12, 15] == pytest.approx(1.0)
    assert shifted.sum() == pytest.approx(1.0)
    half = _bilinear(image, grid_y[None], grid_x[None] - 0.5)
    assert half[0, 10, 12] == pytest.approx(0.5)
    assert half[0, 10, 13] == pytest.approx(0.5)
    outside = _bilinear(image, grid_y[None] + 100, grid_x[None] - 100)
    assert not outside.any()


@pytest.mark.parametrize(("field", "grows"), [("dilate_p", True), ("erode_p", False)])
def test_stroke_thickness(digits: np.ndarray, field: str, grows: bool) -> None:
    config = AugmentConfig(**{**IDENTITY.__dict__, field: 1.0})
    out = augment_batch(digits, np.random.default_rng(3), config)
    ratio = (out > 0.5).sum(axis=(1, 2)) / (digits > 0.5).sum(axis=(1, 2))
    assert (ratio > 1.2).all() if grows else (ratio < 0.9).all()


def test_elastic_alone_moves_pixels_a_little(digits: np.ndarray) -> None:
    config = AugmentConfig(**{**IDENTITY.__dict__, "elastic_p": 1.0})
    out = augment_batch(digits, np.random.default_rng(4), config)
    assert np.abs(out - digits).mean() > 0.01
    assert np.mean([correlation(a, b) for a, b in zip(out, digits, strict=True)]) > 0.4


def test_large_batches_are_chunked_consistently() -> None:
    """Every image of a batch longer than a chunk, the ragged tail too, comes back in its
    own slot: distinct images (noise with peak 1), so a shifted or skipped chunk shows."""
    rng = np.random.default_rng(5)
    many = rng.random((CHUNK + 37, 28, 28), dtype=np.float32)
    many /= many.max(axis=(1, 2), keepdims=True)
    out = augment_batch(many, np.random.default_rng(6), IDENTITY)
    np.testing.assert_allclose(out, many, atol=1e-5)


def test_refuses_wrong_shapes() -> None:
    with pytest.raises(ValueError, match="28, 28"):
        augment_batch(np.zeros((2, 20, 20), np.float32), np.random.default_rng(0))
