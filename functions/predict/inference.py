"""The loaded model (or why there is none), and its predictions.

Loaded once per execution environment. Any failure to load leaves a state
that says why, so the API answers 503 rather than a wrong digit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from digitnet.modelfile import CARD_FILE, LoadedModel, load_model
from prediction_json import PredictionEncoder


@dataclass(frozen=True)
class ModelState:
    """`model` is None when it could not be loaded, and `reason` says why; `card` is
    its MODEL_CARD.md, when shipped."""

    model: LoadedModel | None
    reason: str | None = None
    card: str | None = None

    @classmethod
    def load(cls, directory: str | Path) -> ModelState:
        """Never raises: a missing, corrupt or mismatched model becomes `reason`."""
        try:
            model = load_model(directory)
        except Exception as exc:  # whatever broke, the API must refuse rather than guess
            return cls(None, f"{type(exc).__name__}: {exc}")
        return cls(model, None, _read_card(Path(directory) / CARD_FILE))

    @property
    def ok(self) -> bool:
        return self.model is not None

    @property
    def public_reason(self) -> str:
        """What the API may say: the kind of failure, not the paths and checksums (those
        are logged at start, where the owner looks)."""
        kind = (self.reason or "").partition(":")[0] or "unknown error"
        return f"the model could not be loaded ({kind}); the function's log says why"

    def ref(self) -> dict[str, str]:
        assert self.model is not None
        return {"name": self.model.name, "version": self.model.version}

    @cached_property
    def encoder(self) -> PredictionEncoder:
        """The answers' writer, naming this model (only once a model is loaded)."""
        return PredictionEncoder(self.ref())

    def predict(self, images: np.ndarray) -> np.ndarray:
        """(N, 28, 28) float32 in [0, 1] -> (N, 10) probabilities, vectorised (in the
        network's cache-sized passes: digitnet.network.INFERENCE_CHUNK)."""
        assert self.model is not None
        probabilities = self.model.network.predict_proba(images)
        if not np.isfinite(probabilities).all():
            raise ArithmeticError("the model produced non-finite probabilities")
        return probabilities


def _read_card(path: Path) -> str | None:
    """The Markdown card is documentation: without it the model still answers."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
