"""Powertools logging, EMF metrics and X-Ray tracing, all configured from the environment.

- POWERTOOLS_SERVICE_NAME (default digit-recognizer, as deployed), POWERTOOLS_LOG_LEVEL (INFO):
  JSON logs carrying the Lambda request id, the API Gateway request id as
  correlation_id, and cold_start.
- POWERTOOLS_METRICS_NAMESPACE (default DigitRecognizer); POWERTOOLS_METRICS_DISABLED=true
  records nothing, ColdStart included (the local server and the tests).
- POWERTOOLS_TRACE_DISABLED=true (or 1, yes, on), running outside Lambda or under
  `sam local`: no Tracer at all.
  Creating one imports aws_xray_sdk and botocore, about 0.3 s of cold start.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "digit-recognizer"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "DigitRecognizer"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
METRICS_ENABLED = not is_metrics_disabled()
# Requests such as /health add no metric; Powertools would warn on every one.
warnings.filterwarnings("ignore", message="No application metrics to publish")

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def tracing_enabled() -> bool:
    """Decided before a Tracer is built, along the lines of the Tracer's own rule: off when
    disabled (Powertools' truthy values), outside Lambda (no AWS_LAMBDA_FUNCTION_NAME),
    or under `sam local`, which has no X-Ray daemon."""
    if resolve_truthy_env_var_choice(env=os.environ.get("POWERTOOLS_TRACE_DISABLED", "false")):
        return False
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) and not os.environ.get("AWS_SAM_LOCAL")


def instrument(handler: LambdaHandler) -> LambdaHandler:
    """The Lambda entry point: logging context, metrics flushed per invocation, tracing."""
    wrapped = handler
    if tracing_enabled():
        from aws_lambda_powertools import Tracer

        wrapped = Tracer(service=SERVICE).capture_lambda_handler(wrapped, capture_response=False)
    # Powertools writes ColdStart with a metric of its own, which ignores METRICS_DISABLED.
    wrapped = metrics.log_metrics(wrapped, capture_cold_start_metric=METRICS_ENABLED)
    return logger.inject_lambda_context(
        wrapped, clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_HTTP,
    )


def record_predictions(kinds: Iterable[str], digits: Iterable[int], latency_ms: float) -> None:
    """Predictions, per digit (PredictedDigit0..9), per input kind (InputPixels/InputImage),
    latency."""
    if not METRICS_ENABLED:
        return
    digit_counts = Counter(digits)
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count,
                       value=sum(digit_counts.values()))
    for digit, count in digit_counts.items():
        metrics.add_metric(name=f"PredictedDigit{digit}", unit=MetricUnit.Count, value=count)
    for kind, count in Counter(kinds).items():
        metrics.add_metric(name=f"Input{kind.capitalize()}", unit=MetricUnit.Count, value=count)
    metrics.add_metric(name="PredictLatency", unit=MetricUnit.Milliseconds, value=latency_ms)


def record_error(status: int) -> None:
    """ClientErrors (4xx), ModelUnavailable (503), ServerErrors (other 5xx)."""
    if not METRICS_ENABLED:
        return
    if status < 500:
        name = "ClientErrors"
    else:
        name = "ModelUnavailable" if status == 503 else "ServerErrors"
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
