"""The predict Lambda: a FastAPI app wrapped by Mangum (placeholder until the model lands)."""

from fastapi import FastAPI
from mangum import Mangum

app = FastAPI(title="Digit recognizer")


@app.get("/health")
def health() -> dict[str, object]:
    return {"ok": False, "reason": "no model shipped yet"}


handler = Mangum(app, lifespan="off")
