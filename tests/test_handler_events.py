"""The exported Lambda handler called with API Gateway events from events/ (v2 and v1)."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from api_helpers import (
    MANIFEST,
    SHIPPED_MODEL,
    LambdaContext,
    app_module,
    copy_model,
    invoke,
    load_event,
    run_fresh,
)

from tools.paths import EVENTS_DIR, FUNCTION_DIR, ROOT

# /health adds no metric; Powertools warns about that on every invocation.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")


@pytest.mark.parametrize(
    "name", ["v2-predict-pixels", "v2-predict-image", "v2-predict-photo", "v2-predict-base64-body",
             "v1-predict-pixels"],
)
def test_predict_events_answer_json(name):
    status, headers, body = invoke(load_event(name))
    assert status == 200, body
    assert headers["content-type"] == "application/json"
    answer = json.loads(body)
    assert answer["digit"] == 7  # every sample event holds the same drawn "7"
    assert len(answer["input"]) == 784


def test_the_readmes_sample_png_is_the_image_events_drawing():
    url = json.loads(load_event("v2-predict-image")["body"])["image"]
    assert base64.b64decode(url.partition(",")[2]) == (EVENTS_DIR / "seven.png").read_bytes()


def test_json_answer_is_not_base64_encoded_when_the_request_was():
    """Kludex/mangum#92: a base64 request body must not turn the JSON answer into base64."""
    event = load_event("v2-predict-base64-body")
    assert event["isBase64Encoded"] is True
    response = app_module().handler(event, LambdaContext())
    assert response["isBase64Encoded"] is False
    assert json.loads(response["body"])["digit"] == 7


def test_batch_event():
    status, _, body = invoke(load_event("v2-predict-batch"))
    assert status == 200, body
    assert [p["digit"] for p in json.loads(body)["predictions"]] == [7, 7]


def test_invalid_event_is_422():
    status, _, body = invoke(load_event("v2-predict-invalid"))
    assert status == 422
    assert json.loads(body)["detail"][0]["loc"] == ["body", "pixels"]


@pytest.mark.parametrize(("name", "expect"), [
    ("v2-health", '"ok":true'), ("v1-health", '"ok":true'), ("v2-model", '"manifest"'),
    ("v2-openapi", '"PredictRequest"'), ("v2-docs", "/openapi.json"),
])
def test_get_events(name, expect):
    status, _, body = invoke(load_event(name))
    assert status == 200
    assert expect in body


def test_an_image_posted_as_it_is_is_a_422_saying_so():
    """curl --data-binary @seven.png: API Gateway passes the file base64-encoded."""
    event = load_event("v2-predict-pixels")
    event["body"] = base64.b64encode((EVENTS_DIR / "seven.png").read_bytes()).decode()
    event["isBase64Encoded"] = True
    event["headers"]["content-type"] = "image/png"
    status, _, body = invoke(event)
    assert status == 422
    assert "the body is a PNG file, not JSON" in json.loads(body)["detail"][0]["msg"]


def test_head_health_event():
    """HTTP API passes HEAD to the function as it is: the answer must have no body."""
    event = load_event("v2-health")
    event["requestContext"]["http"]["method"] = "HEAD"
    event["routeKey"] = "HEAD /health"
    status, headers, body = invoke(event)
    assert (status, body) == (200, "")
    _, _, get_body = invoke(load_event("v2-health"))
    assert int(headers["content-length"]) == len(get_body.encode())  # GET's, as RFC 9110 allows


def test_stage_prefix_via_api_root_path():
    """A named stage (/prod): routes, and the docs page's link to its schema, keep working."""
    from mangum import Mangum

    app = app_module()
    handler = Mangum(app.with_root_path(app.create_app(app.STATE), "/prod"), lifespan="off",
                     api_gateway_base_path="/prod")
    for path, expect in [("/prod/health", '"ok":true'), ("/prod/docs", "/prod/openapi.json"),
                         ("/prod/openapi.json", '"/predict"')]:
        event = load_event("v2-health")
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        response = handler(event, LambdaContext())
        assert response["statusCode"] == 200, path
        assert expect in response["body"], path


def test_handler_runs_no_lifespan_and_loads_no_model_per_invocation(monkeypatch):
    """Kludex/mangum#342: with lifespan on, Mangum runs startup and shutdown on every
    invocation; the model loads once, at import (the cold start), never per request."""
    import inference
    import mangum.adapter

    app_module()  # imported (the cold start) before the invocations are watched

    def never(*_args, **_kwargs):
        raise AssertionError("per-invocation work that belongs to the cold start")

    monkeypatch.setattr(mangum.adapter, "LifespanCycle", never)
    monkeypatch.setattr(inference.ModelState, "load", never)
    for name in ("v2-health", "v2-predict-pixels", "v2-predict-image"):
        status, _, body = invoke(load_event(name))
        assert status == 200, (name, body)


def test_the_exported_handler_serves_a_named_stage_from_api_root_path(tmp_path):
    """Kludex/mangum#147: the handler Lambda runs, not one a test builds, must pass
    API_ROOT_PATH to Mangum (routes) and to the app (the docs page's schema link)."""
    events = []
    for name, path in [("v2-health", "/prod/health"), ("v2-docs", "/prod/docs"),
                       ("v2-openapi", "/prod/openapi.json")]:
        event = load_event(name)
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        events.append(tmp_path / f"{name}.json")
        events[-1].write_text(json.dumps(event))
    answers, _ = run_fresh(SHIPPED_MODEL, *events, env={"API_ROOT_PATH": "/prod/"}, raw=True)
    assert [status for status, _ in answers] == [200, 200, 200], answers
    (_, health), (_, docs), (_, schema) = answers
    assert json.loads(health)["ok"] is True
    assert "/prod/openapi.json" in docs
    assert '"/predict"' in schema


@pytest.fixture
def app_logs():
    """What the app's Powertools logger writes, as parsed JSON records."""
    import observability

    handler = observability.logger.registered_handler
    buffer = io.StringIO()
    level = observability.logger.log_level
    observability.logger.setLevel("INFO")
    previous = handler.setStream(buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    handler.setStream(previous)
    observability.logger.setLevel(level)


def emf_records(text: str) -> list[dict]:
    """The EMF blobs (one per invocation) among the lines a handler printed."""
    return [json.loads(line) for line in text.splitlines() if '"_aws"' in line]


def emf_totals(records: list[dict]) -> Counter[str]:
    """Each EMF metric's value summed over the records' blobs (other records skipped)."""
    values: Counter[str] = Counter()
    for blob in records:
        if "_aws" not in blob:
            continue
        for name in {m["Name"] for group in blob["_aws"]["CloudWatchMetrics"]
                     for m in group["Metrics"]}:
            values[name] += sum(blob[name]) if isinstance(blob[name], list) else blob[name]
    return values


def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    import observability

    monkeypatch.setattr(observability, "METRICS_ENABLED", True)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")


def test_500_logs_the_trace_and_returns_only_the_request_id(monkeypatch, app_logs, capfd):
    app = app_module()
    metrics_on(monkeypatch)

    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.STATE.model.network, "predict_proba", broken)
    event = load_event("v2-predict-pixels")
    status, _, body = invoke(event)
    assert status == 500
    assert json.loads(body) == {"detail": "Internal server error",
                                "request_id": LambdaContext.aws_request_id}
    error = next(r for r in app_logs() if r.get("message") == "unhandled error")
    assert error["level"] == "ERROR"
    assert "secret internals" in error["exception"]
    assert error["function_request_id"] == LambdaContext.aws_request_id
    assert error["correlation_id"] == event["requestContext"]["requestId"]
    assert "cold_start" in error
    metrics = emf_totals(emf_records(capfd.readouterr().out))
    assert metrics["ServerErrors"] == 1
    assert {"ClientErrors", "ModelUnavailable", "Predictions"}.isdisjoint(metrics), metrics


def test_metrics_are_emitted_as_emf(monkeypatch, capfd):
    import observability

    metrics_on(monkeypatch)
    invoke(load_event("v2-predict-pixels"))
    invoke(load_event("v2-predict-image"))
    invoke(load_event("v2-predict-invalid"))
    blobs = emf_records(capfd.readouterr().out)
    values = emf_totals(blobs)
    assert values["Predictions"] == 2
    assert values["PredictedDigit7"] == 2
    assert values["InputPixels"] == 1
    assert values["InputImage"] == 1
    assert values["ClientErrors"] == 1
    assert values["PredictLatency"] > 0
    namespaces = {m["Namespace"] for blob in blobs for m in blob["_aws"]["CloudWatchMetrics"]}
    assert namespaces == {observability.NAMESPACE}


def test_metrics_count_each_input_kind_apart(monkeypatch, capfd):
    """InputPixels and InputImage each count their own requests: with one of each, names
    swapped would add up the same."""
    metrics_on(monkeypatch)
    for name in ("v2-predict-pixels", "v2-predict-pixels", "v2-predict-image"):
        invoke(load_event(name))
    values = emf_totals(emf_records(capfd.readouterr().out))
    assert (values["InputPixels"], values["InputImage"], values["Predictions"]) == (2, 1, 3)


def test_metrics_count_each_item_of_a_batch(monkeypatch, capfd):
    """A batch of a pixels item and an image item, both 7s: each item is a prediction of
    its own kind and digit, and the batch one latency."""
    metrics_on(monkeypatch)
    status, _, _ = invoke(load_event("v2-predict-batch"))
    assert status == 200
    values = emf_totals(emf_records(capfd.readouterr().out))
    assert (values["Predictions"], values["PredictedDigit7"]) == (2, 2)
    assert (values["InputPixels"], values["InputImage"]) == (1, 1)
    assert values["PredictLatency"] > 0


def test_predict_latency_is_recorded_in_milliseconds(monkeypatch, capfd):
    """The dashboard's latency graph is in milliseconds (MetricUnit.Milliseconds): a request
    the clock says took 0.25 s is recorded as 250."""
    app = app_module()
    metrics_on(monkeypatch)
    clock = iter([10.0, 10.25])
    monkeypatch.setattr(app, "perf_counter", lambda: next(clock))
    invoke(load_event("v2-predict-pixels"))
    assert emf_totals(emf_records(capfd.readouterr().out))["PredictLatency"] == 250


def corrupt_copy(tmp_path: Path) -> Path:
    """A copy of the shipped model with one byte of its weights flipped."""
    model = copy_model(tmp_path)
    weights = bytearray((model / "model.npz").read_bytes())
    weights[len(weights) // 2] ^= 0xFF
    (model / "model.npz").write_bytes(bytes(weights))
    return model


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_broken_model_fails_loudly_at_start_never_answers(tmp_path, damage):
    model_dir = tmp_path / "nowhere" if damage == "missing" else corrupt_copy(tmp_path)
    results, logs = run_fresh(model_dir, "v2-health", "v2-predict-pixels", "v2-model")
    (health_status, health), (predict_status, predict), (model_status, _) = results
    assert (health_status, health["ok"]) == (503, False)
    error = next(r for r in logs if r.get("level") == "ERROR")
    assert ("not found" if damage == "missing" else "checksum") in error["reason"]
    # The API names the kind of failure only: no paths or checksums to the public.
    kind = error["reason"].partition(":")[0]
    assert health["reason"] == (f"the model could not be loaded ({kind}); "
                                "the function's log says why")
    assert str(model_dir) not in json.dumps(results)
    assert predict_status == 503
    assert predict["detail"] == f"model unavailable: {health['reason']}"  # the page reads it
    assert "digit" not in predict
    assert model_status == 503
    assert error["model_dir"] == str(model_dir)
    metrics = emf_totals(logs)  # the 503s of /predict and /model (/health's adds none)
    assert metrics["ModelUnavailable"] == 2
    assert {"ServerErrors", "ClientErrors", "Predictions"}.isdisjoint(metrics), metrics


def test_fresh_start_logs_model_and_cold_start():
    results, records = run_fresh(SHIPPED_MODEL, "v2-health", "v2-health")
    assert [status for status, _ in results] == [200, 200]
    loaded = next(r for r in records if r.get("message") == "model loaded")
    assert loaded["model"]["version"] == MANIFEST["version"]
    cold = [r for r in records if "ColdStart" in r]  # Powertools' EMF metric
    assert len(cold) == 1, "the first invocation only"
    assert cold[0]["ColdStart"] == [1.0]
    assert cold[0]["function_name"] == LambdaContext.function_name


def test_metrics_disabled_writes_no_emf_not_even_cold_start():
    results, records = run_fresh(SHIPPED_MODEL, "v2-predict-pixels",
                                 env={"POWERTOOLS_METRICS_DISABLED": "true"})
    assert results[0][0] == 200
    assert any(r.get("message") == "model loaded" for r in records)  # logs still written
    assert not [r for r in records if "_aws" in r], records


@pytest.mark.parametrize(("env", "expected"), [
    ({}, False),  # outside Lambda: no Tracer, no aws_xray_sdk import
    ({"AWS_LAMBDA_FUNCTION_NAME": "fn"}, True),
    ({"AWS_LAMBDA_FUNCTION_NAME": "fn", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
    ({"AWS_LAMBDA_FUNCTION_NAME": "fn", "POWERTOOLS_TRACE_DISABLED": "1"}, False),
    ({"AWS_LAMBDA_FUNCTION_NAME": "fn", "POWERTOOLS_TRACE_DISABLED": "yes"}, False),
    ({"AWS_LAMBDA_FUNCTION_NAME": "fn", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
    ({"AWS_LAMBDA_FUNCTION_NAME": "fn", "AWS_SAM_LOCAL": "true"}, False),  # no X-Ray daemon
])
def test_tracing_follows_the_environment(monkeypatch, env, expected):
    import observability

    for key in ("AWS_LAMBDA_FUNCTION_NAME", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert observability.tracing_enabled() is expected


def test_no_xray_sdk_when_tracing_is_off():
    """Cold start: aws_xray_sdk (and the botocore client it pulls in) cost ~0.3 s."""
    script = ("import sys, app; "
              "print('aws_xray_sdk' in sys.modules, 'botocore.client' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(FUNCTION_DIR),
           "MODEL_DIR": str(SHIPPED_MODEL), "AWS_LAMBDA_FUNCTION_NAME": "fn",
           "POWERTOOLS_TRACE_DISABLED": "true"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.split()[-2:] == ["False", "False"]


def test_tracing_on_sends_the_invocation_to_the_xray_daemon():
    """TracingMode=Active: the handler runs under the Tracer, whose subsegment for the
    invocation reaches the daemon (here a UDP socket of the test's) in Lambda's trace."""
    import observability

    trace = "1-5759e988-bd862e3fe1be46a994272793"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        daemon.settimeout(10)  # once the handler has returned, its segment was sent
        script = ("import json, sys, app; from tools.lambda_fakes import LambdaContext; "
                  "r = app.handler(json.load(open(sys.argv[1])), LambdaContext()); "
                  "print(r['statusCode'])")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FUNCTION_DIR), str(ROOT)]),
               "MODEL_DIR": str(SHIPPED_MODEL), "AWS_LAMBDA_FUNCTION_NAME": "fn",
               "POWERTOOLS_TRACE_DISABLED": "false", "LAMBDA_TASK_ROOT": str(FUNCTION_DIR),
               "_X_AMZN_TRACE_ID": f"Root={trace};Parent=53995c3f42cd8ad8;Sampled=1",
               "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}"}
        done = subprocess.run([sys.executable, "-c", script,
                               str(EVENTS_DIR / "v2-predict-pixels.json")],
                              env=env, capture_output=True, text=True, timeout=60, check=True)
        assert done.stdout.split()[-1] == "200"
        header, _, document = daemon.recvfrom(65536)[0].decode().partition("\n")
    assert json.loads(header) == {"format": "json", "version": 1}
    segment = json.loads(document)
    assert (segment["trace_id"], segment["type"]) == (trace, "subsegment")
    assert segment["annotations"] == {"ColdStart": True, "Service": observability.SERVICE}


def test_handler_survives_asyncio_run_elsewhere():
    """asyncio.run() (another library, a test) unsets the thread's loop Mangum relies on."""
    import asyncio

    async def nothing():
        return None

    asyncio.run(nothing())
    status, _, body = invoke(load_event("v2-health"))
    assert status == 200, body
