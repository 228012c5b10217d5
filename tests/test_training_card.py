"""The model card's rule: run facts generated, recipe reasons generated from the recipe,
hand-written notes about particular weights kept only for those very weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from digitnet.modelfile import load_model
from PIL import Image, ImageDraw

from tools.paths import SHIPPED_MODEL
from training.cli import main
from training.idx import load_split
from training.recipes import RECIPES, arch_options
from training.report import (
    NOTES_END,
    _card,
    carried_notes,
    confusion_matrix,
    draw_confusion,
    draw_curves,
    find_notes,
)

SHA_A, SHA_B = "a" * 64, "b" * 64


def _block(sha: str, text: str) -> str:
    return f"# card\n\n<!-- notes on weights sha256 {sha}: by hand -->\n{text}\n{NOTES_END}\n"


def test_notes_carry_over_only_to_the_weights_they_describe() -> None:
    card = _block(SHA_A, "Canvas set: 98.58%.\n\nFirst trained on build/x.")
    assert carried_notes(card, SHA_A) == ("Canvas set: 98.58%.\n\nFirst trained on build/x.", None)
    assert carried_notes(card, SHA_B) == (None, SHA_A)  # other weights: left out, and said
    assert carried_notes("# a card with no notes\n", SHA_A) == (None, None)
    assert carried_notes(None, SHA_A) == (None, None)


def test_recipe_notes_follow_the_config_not_the_run() -> None:
    from dataclasses import asdict, replace

    shipped = asdict(RECIPES["cnn"])
    notes = " ".join(_recipe_section(shipped))
    assert "lean CNN" in notes
    assert "the MNIST *test* set, and canvas sets built from test digits, guided" in notes
    assert "--digits val" in notes
    plain = " ".join(_recipe_section(asdict(replace(RECIPES["cnn"], renormalize=False))))
    assert "*test* set" not in plain  # the statement names renormalize: false of this recipe
    wider = asdict(replace(RECIPES["cnn"], arch_options={"c1": 32, "c2": 64, "hidden": 128}))
    assert "lean CNN" not in " ".join(_recipe_section(wider))
    # The same network, its options spelt out (as runs record them now) or one of them set
    # to its default (--option dropout=0.4), is the lean CNN still.
    for options in (arch_options("cnn"), {**RECIPES["cnn"].arch_options, "dropout": 0.4}):
        same = asdict(replace(RECIPES["cnn"], arch_options=options))
        assert "lean CNN" in " ".join(_recipe_section(same)), options
    assert _recipe_section(asdict(RECIPES["seed"])) == []


def _manifest(config: dict, sha: str = SHA_A) -> dict:
    return {"name": "n", "version": "v", "weights_sha256": sha, "architecture": [],
            "metrics": {k: 0.5 for k in ("test_accuracy", "temperature", "test_ece_before",
                                         "test_ece_after", "test_nll_before", "test_nll_after",
                                         "val_accuracy", "train_seconds")}
            | {"test_errors": 1, "test_size": 2},
            "training": {"config": config, "history": []}}


def _recipe_section(config: dict) -> list[str]:
    card = _card(_manifest(config), np.zeros((10, 10), int))
    if "## About the recipe" not in card:
        return []
    section = card.split("## About the recipe", 1)[1].split("\n## ", 1)[0]
    return [p for p in section.split("\n\n") if p.strip()]


def test_a_card_with_notes_reads_them_back() -> None:
    card = _card(_manifest({}, SHA_B), np.zeros((10, 10), int), "Latency 0.10 ms.")
    assert find_notes(card) == (SHA_B, "Latency 0.10 ms.")
    assert "## Notes on these weights (hand-written)" in card


def test_a_retrain_keeps_notes_for_identical_weights_and_says_when_it_drops_them(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "model"
    argv = ["train", "--data-dir", str(data_dir), "--arch", "seed", "--tiny", "--out", str(out),
            "--overwrite"]
    assert main(argv) == 0
    sha = json.loads((out / "manifest.json").read_text())["weights_sha256"]
    card = out / "MODEL_CARD.md"
    card.write_text(card.read_text() + _block(sha, "Canvas set: 16.7%, measured by hand."))
    capsys.readouterr()
    assert main(argv) == 0  # same seed: bit-identical weights, so the notes still hold
    assert find_notes(card.read_text()) == (sha, "Canvas set: 16.7%, measured by hand.")
    assert "hand-written notes" not in capsys.readouterr().out

    assert main([*argv, "--seed", "2"]) == 0  # other weights: the notes would be false
    assert find_notes(card.read_text()) is None
    assert (f"the previous MODEL_CARD.md's hand-written notes describe weights {sha[:12]}…, "
            "not these: left out of the new card") in capsys.readouterr().out


def test_the_shipped_card_is_the_generated_card_plus_notes_on_its_weights(
        mnist_dir: Path) -> None:
    """The generator's output for the shipped manifest plus a notes block naming the
    shipped weights: nothing hand-written sits outside it, so a bit-identical `make train`
    keeps every note and a different model keeps none."""
    loaded = load_model(SHIPPED_MODEL)
    manifest = json.loads((SHIPPED_MODEL / "manifest.json").read_text())
    card = (SHIPPED_MODEL / "MODEL_CARD.md").read_text()
    sha, notes = find_notes(card)  # type: ignore[misc]
    assert sha == manifest["weights_sha256"]
    test = load_split(mnist_dir, "t10k")
    predictions = loaded.network.predict_proba(test.images).argmax(axis=1)
    assert card == _card(manifest, confusion_matrix(predictions, test.labels), notes)
    assert "optimistic by an amount not measured" in card


RED, BLUE = (255, 0, 0), (0, 0, 255)  # the curves' train and val colours


def _colours(image: Image.Image) -> set[tuple[int, int, int]]:
    return {colour for _, colour in image.getcolors(1 << 16)}


@pytest.mark.parametrize(("train", "val", "colours"), [
    ((0.7, 0.8), (0.5, 0.9), {RED, BLUE}),
    ((0.2, 1.0), (0.2, 1.0), {BLUE}),  # train = val: one dot over the other, on a flat scale
])
def test_a_one_epoch_run_shows_its_epoch_in_each_panel(
        tmp_path: Path, train: tuple, val: tuple, colours: set) -> None:
    """A line through one point draws nothing: a --epochs 1 card's curves were blank."""
    row = {"epoch": 1, "loss": train[0], "acc": train[1], "val_loss": val[0], "val_acc": val[1],
           "seconds": 1.0}
    draw_curves([row], tmp_path / "curves.png")
    image = Image.open(tmp_path / "curves.png").convert("RGB")
    half = image.width // 2
    for panel in (image.crop((0, 0, half, image.height)),
                  image.crop((half, 0, image.width, image.height))):
        assert _colours(panel) & {RED, BLUE} == colours


def _find_text(image: Image.Image, text: str, angle: int = 0) -> tuple[int, int, int, int]:
    """Where `text`, drawn black on white in ImageDraw's default font and turned by `angle`,
    appears pixel for pixel in `image`: its box (left, top, right, bottom)."""
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), text)
    stamp = Image.new("L", (right, bottom), 255)
    ImageDraw.Draw(stamp).text((0, 0), text, fill=0)
    want = np.asarray(stamp.crop((left, top, right, bottom)).rotate(angle, expand=True))
    have = np.asarray(image.convert("L"))
    h, w = want.shape
    found = np.ones((have.shape[0] - h + 1, have.shape[1] - w + 1), bool)
    for y, x in np.ndindex(h, w):
        found &= have[y:y + found.shape[0], x:x + found.shape[1]] == want[y, x]
    hits = np.argwhere(found)
    assert len(hits) == 1, f"{text!r} appears {len(hits)} times"
    y, x = hits[0]
    return int(x), int(y), int(x) + w, int(y) + h


def test_the_confusion_matrix_names_its_axes(tmp_path: Path) -> None:
    """Rows are the true digit (titled on the left, read upwards), columns the predicted one
    (titled above); the figure had only the digits 0-9 along each side."""
    draw_confusion(np.diag(np.arange(10, 20)), tmp_path / "cm.png")
    image = Image.open(tmp_path / "cm.png").convert("RGB")
    grid = np.argwhere((np.asarray(image) == (200, 230, 200)).all(axis=-1))  # the diagonal
    (grid_top, grid_left), (grid_bottom, grid_right) = grid.min(axis=0), grid.max(axis=0)
    left, _, right, bottom = _find_text(image, "predicted digit")
    assert bottom < grid_top
    assert grid_left < left < right < grid_right
    left, top, right, bottom = _find_text(image, "true digit", angle=90)
    assert right < grid_left
    assert grid_top < top < bottom < grid_bottom
