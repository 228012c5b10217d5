"""digitnet.masks: the mask helpers crop, table, paper and lighting share, each checked
against a brute-force reading of its docstring (through the pipeline, a wrong one mostly
still found the digit)."""

from __future__ import annotations

import numpy as np
import pytest
from digitnet import masks
from PIL import Image


def _masks(seed: int) -> np.ndarray:
    """A sparse random 9x11 mask, ink on its edges too."""
    return np.random.default_rng(seed).random((9, 11)) < 0.1


@pytest.mark.parametrize("shape", [(2, 2), (3, 5), (6, 4), (7, 7)])
def test_outer_ring_holds_each_edge_element_once(shape: tuple[int, int]) -> None:
    h, w = shape
    a = np.arange(h * w).reshape(shape)
    edge = [a[i, j] for i in range(h) for j in range(w) if i in (0, h - 1) or j in (0, w - 1)]
    ring = masks.outer_ring(a)
    assert sorted(ring.tolist()) == sorted(edge)
    assert ring[:2 * w].tolist() == a[0].tolist() + a[-1].tolist()  # the rows come first


@pytest.mark.parametrize("seed", range(4))
def test_grown_adds_the_four_neighbours(seed: int) -> None:
    mask = _masks(seed)
    h, w = mask.shape
    expected = np.array([[any(mask[y, x] for y, x in ((i, j), (i - 1, j), (i + 1, j),
                                                        (i, j - 1), (i, j + 1))
                              if 0 <= y < h and 0 <= x < w)
                          for j in range(w)] for i in range(h)])
    grown = masks.grown(mask)
    np.testing.assert_array_equal(grown, expected)
    assert grown is not mask


@pytest.mark.parametrize(("seed", "by"), [(0, 0), (1, 1), (2, 2), (3, 3), (4, 1)])
def test_within_is_the_square_of_side_2by_plus_1_around_each_pixel(seed: int, by: int) -> None:
    mask = _masks(seed)
    h, w = mask.shape
    expected = np.array([[mask[max(i - by, 0):i + by + 1, max(j - by, 0):j + by + 1].any()
                          for j in range(w)] for i in range(h)])
    np.testing.assert_array_equal(masks.within(mask, by), expected)


@pytest.mark.parametrize("seed", range(5))
def test_runs_are_the_consecutive_stretches(seed: int) -> None:
    indices = np.flatnonzero(np.random.default_rng(seed).random(30) < 0.5)
    expected: list[tuple[int, int]] = []
    for i in indices.tolist():
        if expected and expected[-1][1] == i:
            expected[-1] = (expected[-1][0], i + 1)
        else:
            expected.append((i, i + 1))
    assert masks.runs(indices) == expected
    assert masks.runs(np.array([4])) == [(4, 5)]
    assert masks.runs(np.array([], int)) == []


@pytest.mark.parametrize(("mode", "alpha", "expected"), [
    ("RGBA", 255, False), ("RGBA", 254, True), ("RGBA", 0, True), ("LA", 254, True),
    ("LA", 255, False),
])
def test_has_see_through_is_any_pixel_not_fully_opaque(mode: str, alpha: int,
                                                       expected: bool) -> None:
    """One pixel of `alpha` in an otherwise opaque picture decides."""
    image = Image.new(mode, (5, 4), (0,) * (len(mode) - 1) + (255,))
    image.putpixel((2, 1), (0,) * (len(mode) - 1) + (alpha,))
    assert masks.has_see_through(image) is expected
    assert masks.has_see_through(image.convert("RGB")) is False
