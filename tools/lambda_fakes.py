"""Stand-ins for what the Lambda runtime hands the handler: a context and the sample events.

Shared by the benchmarks and the tests, which call the exported handler in-process.
Scripts that must run in a bare interpreter (bench_api's cold-start script, the
built-package invoke in tests/infra_helpers.py) keep their own inline copy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tools.paths import EVENTS_DIR


@dataclass(frozen=True)
class LambdaContext:
    """What the Lambda runtime passes: Powertools' logger reads the first four, the site
    publisher its log stream and the time left (a fixed `remaining_ms`)."""

    aws_request_id: str = "fake-0000"
    function_name: str = "digit-predict-fake"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:fake"
    log_stream_name: str = "2026/11/26/[$LATEST]fake"
    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def load_event(name: str, body: object | None = None) -> dict[str, Any]:
    """An event from events/ (as `sam local generate-event` made it), optionally a new body."""
    event = json.loads((EVENTS_DIR / f"{name}.json").read_text())
    if body is not None:
        event["body"] = json.dumps(body, separators=(",", ":"))
        event["isBase64Encoded"] = False
    return event


def event_body(name: str) -> dict[str, Any]:
    """The JSON body of an event from events/ (not base64-encoded ones)."""
    return json.loads(load_event(name)["body"])
