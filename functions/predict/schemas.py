"""The API's request and response shapes: they validate requests and document the API.

Requests are validated from raw JSON bytes by pydantic-core (strict types,
NaN/Infinity refused), which is several times cheaper than FastAPI's default
body path; the same models publish the OpenAPI schema.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Self

from digitnet.imagefile import MAX_PIXELS
from digitnet.preprocess import SIZE
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

N_PIXELS = SIZE * SIZE  # 784: a 28x28 field
MAX_BATCH = 256
MAX_IMAGE_BYTES = 1_000_000  # decoded image file size
MAX_IMAGE_PIXELS = MAX_PIXELS  # preprocessing's limit, the API's too
MAX_IMAGE_SIDE = math.isqrt(MAX_IMAGE_PIXELS)  # "4096x4096" in the docs
# All of a batch's images together (128 of 512x512, 32 of 1024x1024, 2 of 4096x4096; 256
# canvas drawings of 280x280 fit): reading them is the cost, and it must stay well inside
# the function's 10 s timeout on a slower CPU. The costliest batch found takes 3.5 s of CPU
# here, at twice this budget 5.8-6.6 s (README.md, "Errors and limits").
MAX_BATCH_PIXELS = 2 * MAX_IMAGE_PIXELS
MAX_BODY_BYTES = 6 * 1024 * 1024  # AWS Lambda's synchronous payload limit

Pixel = Annotated[float, Field(ge=0, le=255, allow_inf_nan=False, strict=True)]


class PredictRequest(BaseModel):
    """Exactly one of `pixels` or `image`."""

    model_config = ConfigDict(extra="forbid")

    pixels: Annotated[list[Pixel], Field(min_length=N_PIXELS, max_length=N_PIXELS)] | None = (
        Field(None, description="784 grey levels 0..255, row-major 28x28, light ink on dark "
                                "(as MNIST).")
    )
    image: str | None = Field(
        None,
        description="A PNG, JPEG, WebP or GIF as raw base64 or a `data:image/...;base64,` URL "
                    f"(at most {MAX_IMAGE_BYTES} bytes once base64-decoded, "
                    f"{MAX_IMAGE_PIXELS} pixels).",
    )
    normalize: Annotated[bool, Field(strict=True)] = Field(
        True, description="Apply the MNIST-style crop, scale and centring (also to pixels).",
    )

    @model_validator(mode="after")
    def _exactly_one_input(self) -> Self:
        if (self.pixels is None) == (self.image is None):
            raise ValueError("exactly one of 'pixels' or 'image' is required")
        return self


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[PredictRequest] = Field(min_length=1, max_length=MAX_BATCH)


class ModelRef(BaseModel):
    name: str
    version: str


class Prediction(BaseModel):
    digit: int = Field(ge=0, le=9)
    confidence: float = Field(ge=0, le=1)
    probabilities: list[Annotated[float, Field(ge=0, le=1)]] = Field(min_length=10, max_length=10)
    model: ModelRef
    input: list[Annotated[int, Field(ge=0, le=255)]] = Field(
        min_length=N_PIXELS, max_length=N_PIXELS,
        description="The 784 grey levels (0..255, row-major 28x28) the model saw.",
    )


class BatchResponse(BaseModel):
    predictions: list[Prediction]


class Health(BaseModel):
    ok: bool
    model: ModelRef | None = None
    preprocess_version: str | None = None
    reason: str | None = Field(None, description="The kind of failure that left no model "
                               "(when not ok); the function's log has the details.")


class ModelCard(BaseModel):
    name: str
    version: str
    manifest: dict[str, Any] = Field(description="The model's manifest.json.")
    card: str | None = Field(None, description="MODEL_CARD.md (Markdown), when shipped.")


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(description="Where the problem is, e.g. ['body', 'pixels', 3].")
    msg: str
    type: str


class ErrorResponse(BaseModel):
    detail: list[ErrorItem] | str


PREDICT_ADAPTER = TypeAdapter(PredictRequest)
BATCH_ADAPTER = TypeAdapter(BatchRequest)
