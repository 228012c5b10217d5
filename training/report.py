"""The model card: Markdown plus a confusion-matrix and learning-curve PNG (Pillow only).

What a card says, and who writes it:
- facts about this run (metrics, command, commit, data, history) are generated here from
  the manifest on every run;
- why the recipe is what it is, true for every run of it, is generated from the recipe
  (`recipes.recipe_notes`) and explained in training/README.md;
- facts about particular weights that no run measures (their canvas-set accuracy, latency,
  where they were first written) are hand-written in a notes block that names the weights'
  sha256. A retrain keeps the block only if its weights are bit-identical to those; else it
  drops it and says so (`carried_notes`): such notes are false of other weights.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from digitnet.modelfile import CARD_FILE
from PIL import Image, ImageDraw

from .recipes import recipe_notes

CONFUSION_PNG = "confusion_matrix.png"
CURVES_PNG = "learning_curves.png"


def confusion_matrix(predictions: np.ndarray, labels: np.ndarray, n: int = 10) -> np.ndarray:
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (labels, predictions), 1)
    return cm


def draw_confusion(cm: np.ndarray, path: Path, cell: int = 44) -> None:
    """Rows = true digit, columns = predicted, each titled (the digits alone leave the reader
    to guess which is which); off-diagonal cells shaded by count."""
    n = len(cm)
    margin = 46  # an axis title, then the digits
    img = Image.new("RGB", (margin + n * cell + 1, margin + n * cell + 1), "white")
    d = ImageDraw.Draw(img)
    title = "predicted digit"
    d.text((margin + (n * cell - d.textlength(title)) // 2, 4), title, fill="black")
    _upward_text(img, (4, margin + n * cell // 2), "true digit")
    off_max = max(1, int((cm - np.diag(np.diag(cm))).max()))
    for i in range(n):
        d.text((margin + i * cell + cell // 2 - 3, margin - 22), str(i), fill="black")
        d.text((margin - 20, margin + i * cell + cell // 2 - 5), str(i), fill="black")
        for j in range(n):
            v = int(cm[i, j])
            if i == j:
                colour = (200, 230, 200)
            else:
                s = int(255 - 180 * min(1.0, v / off_max)) if v else 255
                colour = (255, s, s)
            x0, y0 = margin + j * cell, margin + i * cell
            d.rectangle([x0, y0, x0 + cell, y0 + cell], fill=colour, outline=(180, 180, 180))
            d.text((x0 + 4, y0 + cell // 2 - 5), str(v), fill="black")
    img.save(path)


def _upward_text(img: Image.Image, left_middle: tuple[int, int], text: str) -> None:
    """`text` read bottom to top, its left edge and vertical middle at `left_middle` (a y-axis
    title): ImageDraw writes only level text, so it is drawn level, turned and pasted."""
    left, top, right, bottom = ImageDraw.Draw(img).textbbox((0, 0), text)
    level = Image.new("RGB", (right - left, bottom - top), "white")
    ImageDraw.Draw(level).text((-left, -top), text, fill="black")
    turned = level.rotate(90, expand=True)
    img.paste(turned, (left_middle[0], left_middle[1] - turned.height // 2))


def _polyline(d: ImageDraw.ImageDraw, box: tuple[int, int, int, int], ys: list[float],
              lo: float, hi: float, colour: str) -> None:
    """The series as a line; one epoch as a dot (a line through one point draws nothing),
    and a flat scale (hi == lo) at mid-height."""
    x0, y0, x1, y1 = box
    n = len(ys)
    xs = [x0 + (x1 - x0) * i / (n - 1) for i in range(n)] if n > 1 else [(x0 + x1) / 2] * n
    pts = [(x, y1 - (y1 - y0) * (y - lo) / (hi - lo) if hi > lo else (y0 + y1) / 2)
           for x, y in zip(xs, ys, strict=True)]
    if n == 1:
        x, y = pts[0]
        d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
    elif n > 1:
        d.line(pts, fill=colour, width=2)


def draw_curves(history: list[dict[str, Any]], path: Path) -> None:
    """Left: train/val loss (log scale); right: train/val error % (log scale)."""
    w, h, pad = 360, 240, 40
    img = Image.new("RGB", (2 * w, h + 30), "white")
    d = ImageDraw.Draw(img)
    panels = [("loss", "val_loss", "loss (log)"), ("acc", "val_acc", "error % (log)")]
    for p, (a, b, title) in enumerate(panels):
        box = (p * w + pad, 30, p * w + w - 10, h)
        d.rectangle(box, outline="black")
        d.text((box[0], 10), f"{title}: train red, val blue", fill="black")
        series = [[r[k] for r in history] for k in (a, b)]
        if a == "acc":
            series = [[max(1e-4, 100 * (1 - v)) for v in s] for s in series]
        logs = [list(np.log10(np.maximum(s, 1e-6))) for s in series]
        lo, hi = min(map(min, logs)), max(map(max, logs))
        for s, colour in zip(logs, ("red", "blue"), strict=True):
            _polyline(d, box, s, lo, hi, colour)
        d.text((box[0] - 36, box[1]), f"{10 ** hi:.3g}", fill="black")
        d.text((box[0] - 36, box[3] - 10), f"{10 ** lo:.3g}", fill="black")
        d.text((box[0], box[3] + 8), f"epoch 1..{len(history)}", fill="black")
    img.save(path)


NOTES_HEADING = "## Notes on these weights (hand-written)"
NOTES_START = ("<!-- notes on weights sha256 {sha}: written by hand, kept by a retrain only "
               "while its weights are bit-identical (training/report.py) -->")
NOTES_END = "<!-- end of notes -->"
_NOTES = re.compile(r"^<!-- notes on weights sha256 ([0-9a-f]{64})\b.*?-->\n(.*?)^"
                    + re.escape(NOTES_END), re.MULTILINE | re.DOTALL)


def find_notes(card: str) -> tuple[str, str] | None:
    """The hand-written notes block of a card: (the weights' sha256 it is about, its text)."""
    match = _NOTES.search(card)
    return (match.group(1), match.group(2).strip()) if match else None


def carried_notes(previous_card: str | None, weights_sha256: str) -> tuple[str | None, str | None]:
    """(the notes to keep in the new card, the sha256 of notes left out): the previous card's
    notes carry over only to the very weights they describe."""
    found = find_notes(previous_card or "")
    if found is None:
        return None, None
    sha, text = found
    return (text, None) if sha == weights_sha256 else (None, sha)


def _provenance(tr: dict[str, Any]) -> str:
    """The data files read and the library versions, when the manifest records them."""
    lines = []
    if tr.get("data_sha256"):
        files = ", ".join(f"`{name}` `{sha[:16]}…`" for name, sha in tr["data_sha256"].items())
        lines.append(f"Data read (sha256 of the uncompressed bytes): {files}.")
    if tr.get("versions"):
        lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in tr["versions"].items()) + ".")
    return "\n".join(lines)


def _card(manifest: dict[str, Any], cm: np.ndarray, notes: str | None = None) -> str:
    tr = manifest.get("training", {})
    return (_about_section(manifest) + _results_section(manifest["metrics"], cm)
            + _recipe_section(tr.get("config") or {})
            + _notes_section(manifest["weights_sha256"], notes)
            + _training_section(tr) + LIMITS)


def _about_section(manifest: dict[str, Any]) -> str:
    """The title, what the network takes, its layers and its weights."""
    layers = " -> ".join(
        f"{e['type']}({', '.join(f'{k}={v}' for k, v in e['config'].items())})"
        for e in manifest["architecture"]
    )
    n_params = sum(int(np.prod(s)) for e in manifest["architecture"] for s in e["arrays"].values())
    return f"""# Model card: {manifest['name']} ({manifest['version']})

A from-scratch NumPy network for 28x28 MNIST-style digits (ink bright on dark,
values in [0, 1], centred by centre of mass). Inputs from a canvas must go through
`digitnet.preprocess.normalize_digit` first (preprocess version
`{manifest.get('preprocess_version')}`).

## Architecture
{layers}

{n_params:,} stored values; weights sha256 `{manifest['weights_sha256']}`.

"""


def _results_section(m: dict[str, Any], cm: np.ndarray) -> str:
    """The test metrics, the most frequent confusions and the two images."""
    worst = sorted(((int(cm[i, j]), i, j) for i in range(10) for j in range(10) if i != j),
                   reverse=True)[:5]
    confusions = ", ".join(f"{i}->{j} ({v})" for v, i, j in worst if v)
    return f"""## Results (official MNIST test set, {m['test_size']} images)
| metric | value |
| --- | --- |
| test accuracy | {m['test_accuracy']:.4f} ({m['test_errors']} errors) |
| softmax temperature (fit on validation NLL) | {m['temperature']:.3f} |
| test ECE (15 bins) before / after temperature | {m['test_ece_before']:.4f} / \
{m['test_ece_after']:.4f} |
| test NLL before / after temperature | {m['test_nll_before']:.4f} / {m['test_nll_after']:.4f} |
| best validation accuracy | {m['val_accuracy']:.4f} |
| training time (this machine, {os.cpu_count()} cores) | {m['train_seconds']:.0f} s |

Most frequent confusions (true->predicted): {confusions or 'none'}.

Confusion matrix (rows: true digit, columns: predicted):

![confusion matrix]({CONFUSION_PNG})

![learning curves]({CURVES_PNG})
"""


def _recipe_section(config: dict[str, Any]) -> str:
    """Why the recipe is what it is (`recipe_notes`); nothing when there is nothing to say."""
    why = "".join(f"\n{note}\n" for note in recipe_notes(config))
    return f"\n## About the recipe\n{why}" if why else ""


def _notes_section(weights_sha256: str, notes: str | None) -> str:
    """The hand-written notes block, marked with the weights it describes."""
    if notes is None:
        return ""
    return (f"\n{NOTES_HEADING}\n{NOTES_START.format(sha=weights_sha256)}\n"
            f"{notes}\n{NOTES_END}\n")


def _training_section(tr: dict[str, Any]) -> str:
    """How to retrain, what the run read and used, and its epochs."""
    rows = "\n".join(f"| {r['epoch']} | {r['loss']:.4f} | {r['acc']:.4f} | {r['val_loss']:.4f} | "
                     f"{r['val_acc']:.4f} | {r['seconds']:.0f} |" for r in tr.get("history", []))
    extra = "".join(f"\n{text}\n" for text in (_provenance(tr), tr.get("note")) if text)
    return f"""
## Training
Reproduce with (seed {tr.get('seed')}, code at commit `{tr.get('code_commit')}`):

```
{tr.get('command')}
```

{tr.get('train_size')} training images, {tr.get('val_size')} held out for validation (best
epoch kept, temperature fitted there). Config: `{json.dumps(tr.get('config'))}`.
{extra}
| epoch | loss | acc (augmented) | val loss | val acc | seconds |
| --- | --- | --- | --- | --- | --- |
{rows}

"""


LIMITS = """## Limits
Trained on MNIST only (American census and school handwriting, digits 0-9). It
always answers one of ten digits: check the probability, and let preprocessing
refuse what is no digit (`normalize_digit`: an empty drawing, or ink in no digit's
shape: a speck, a solid blob, a solid bar wider than high, a straight stroke lying
flat, ink everywhere).
"""


def write_model_card(directory: Path, manifest: dict[str, Any], predictions: np.ndarray,
                     labels: np.ndarray, notes: str | None = None) -> Path:
    """Write MODEL_CARD.md and its two images next to manifest.json (`manifest`, as
    `save_model` returned it); `notes`: a hand-written block about these very weights
    (see `carried_notes`)."""
    directory = Path(directory)
    cm = confusion_matrix(predictions, labels)
    draw_confusion(cm, directory / CONFUSION_PNG)
    draw_curves(manifest.get("training", {}).get("history", []), directory / CURVES_PNG)
    path = directory / CARD_FILE
    path.write_text(_card(manifest, cm, notes))
    return path
