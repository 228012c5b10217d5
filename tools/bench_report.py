"""The bench's one table: rows of figures beside the seed-style baseline, as text and JSON."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Row:
    """One figure. `better` says which way is good, so a reader can judge the ratio."""

    key: str
    label: str
    unit: str
    value: float | None
    baseline: float | None = None
    better: str = "lower"  # "lower" or "higher"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """value / baseline, when both were measured."""
        if self.value is None or self.baseline is None or self.baseline == 0:
            return None
        if not (math.isfinite(self.value) and math.isfinite(self.baseline)):
            return None
        return self.value / self.baseline

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key, "label": self.label, "unit": self.unit, "value": self.value,
            "baseline": self.baseline, "ratio": self.ratio, "better": self.better,
            "note": self.note,
        }


def machine() -> dict[str, object]:
    """Where the figures were measured: they mean little without it."""
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines()
                      if ln.startswith("Model name")), "")
    except OSError:
        pass
    return {
        "arch": platform.machine(),
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def _fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    if not math.isfinite(x):
        return str(x)
    if x == 0 or abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 0.01:
        return f"{x:.3g}" if abs(x) < 1 else f"{x:.2f}"
    return f"{x:.2g}"


def render_table(rows: list[Row]) -> str:
    """A Markdown table: readable in a terminal, pasteable into the README."""
    header = ["figure", "unit", "shipped", "seed-style baseline", "ratio", "better"]
    body = [
        [
            r.label + (f" ({r.note})" if r.note else ""), r.unit, _fmt(r.value),
            _fmt(r.baseline) if r.baseline is not None else "-",
            f"{r.ratio:.2f}x" if r.ratio is not None else "-", r.better,
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "| " + " | ".join("-" * w for w in widths) + " |"
    return "\n".join([line(header), sep, *(line(b) for b in body)])


def report(rows: list[Row], *, quick: bool, elapsed_s: float) -> dict[str, object]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "quick": quick,
        "elapsed_s": round(elapsed_s, 1),
        "rows": [r.as_dict() for r in rows],
    }


def write_json(data: dict[str, object], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
