"""The site publisher custom resource against moto's S3, answering a real local ResponseURL."""

from __future__ import annotations

import json
import threading
from html import escape
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import boto3
import publisher
import pytest
from moto import mock_aws

from tools.lambda_fakes import LambdaContext
from tools.paths import ROOT

BUCKET = "site-bucket-test"
API_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/"


class HandFiredTimer:
    """Stands in for threading.Timer: started, never fires by itself; the test fires it."""

    def __init__(self, interval: float, function, args=()) -> None:
        self.interval, self.function, self.args = interval, function, args
        self.started = self.cancelled = False

    def start(self) -> None:
        self.started = True

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        self.function(*self.args)


class DeleteSpy:
    """moto's S3 client recording each DeleteObjects batch; given `errors`, every batch
    is answered with them (as S3 does for keys it refuses) and nothing is deleted."""

    def __init__(self, client, errors: list[dict] | None = None) -> None:
        self._client = client
        self._errors = errors
        self.batches: list[int] = []

    def __getattr__(self, name: str):
        return getattr(self._client, name)

    def delete_objects(self, **kwargs) -> dict:
        self.batches.append(len(kwargs["Delete"]["Objects"]))
        if self._errors:
            return {"Errors": self._errors}
        return self._client.delete_objects(**kwargs)


def spy_on_deletes(monkeypatch, errors: list[dict] | None = None) -> DeleteSpy:
    """Hand the publisher a DeleteSpy as its S3 client (inside the `s3` fixture's moto)."""
    spy = DeleteSpy(boto3.client("s3"), errors)
    monkeypatch.setattr(publisher.boto3, "client", lambda *args, **kwargs: spy)
    return spy


class ResponseSink:
    """A local HTTP server standing in for CloudFormation's pre-signed ResponseURL."""

    def __init__(self) -> None:
        self.responses: list[dict] = []
        self.content_types: list[str | None] = []
        self.arrived = threading.Event()
        self.refuse = 0  # answer this many PUTs with a 500 first, as a flaky endpoint
        self.attempts = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.attempts += 1
                if sink.attempts <= sink.refuse:
                    self.send_response(500)
                    self.end_headers()
                    return
                sink.responses.append(json.loads(body))
                sink.content_types.append(self.headers.get("Content-Type"))
                self.send_response(200)
                self.end_headers()
                sink.arrived.set()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/response?X-Amz-Signature=x"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink():
    s = ResponseSink()
    yield s
    s.close()


@pytest.fixture
def s3(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "site"
    (root / "img").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>Digit recognizer</title>")
    (root / "app.js").write_text("export const x = 1;")
    (root / "style.css").write_text("body { margin: 0 }")
    (root / "img" / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (root / ".DS_Store").write_bytes(b"\0")
    monkeypatch.setenv("SITE_DIR", str(root))
    return root


def cfn_event(request_type: str, sink: ResponseSink, bucket: str = BUCKET, **extra) -> dict:
    """A custom-resource request as CloudFormation sends it."""
    event = {
        "RequestType": request_type,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:publisher",
        "ResponseURL": sink.url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/digits/1a2b",
        "RequestId": f"req-{request_type.lower()}",
        "LogicalResourceId": "SitePublication",
        "ResourceType": "Custom::SitePublisher",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:publisher",
            "Bucket": bucket, "ApiUrl": API_URL, "SiteVersion": "arn:layer:1",
        },
    }
    if request_type != "Create":
        event["PhysicalResourceId"] = f"site-{bucket}"
    event.update(extra)
    return event


def run(event: dict, sink: ResponseSink, context: LambdaContext | None = None) -> dict:
    """The one response CloudFormation gets to this event (the sink's earlier ones dropped)."""
    sink.responses.clear()
    sink.arrived.clear()
    publisher.handler(event, context or LambdaContext())
    assert sink.arrived.wait(10), "no response reached the ResponseURL"
    assert len(sink.responses) == 1, sink.responses
    return sink.responses[0]


def keys(s3) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_create_uploads_site_and_config(s3, site, sink):
    answer = run(cfn_event("Create", sink), sink)

    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["RequestId"] == "req-create"
    assert answer["StackId"].endswith("stack/digits/1a2b")
    assert answer["LogicalResourceId"] == "SitePublication"
    assert answer["PhysicalResourceId"] == f"site-{BUCKET}"
    assert sink.content_types == [""]  # the pre-signed URL is signed without one
    assert keys(s3) == {"index.html", "app.js", "style.css", "img/logo.svg", "config.json"}
    config = s3.get_object(Bucket=BUCKET, Key="config.json")
    assert json.loads(config["Body"].read()) == {"apiUrl": API_URL.rstrip("/")}
    index = s3.head_object(Bucket=BUCKET, Key="index.html")
    assert index["ContentType"] == "text/html; charset=utf-8"
    script = s3.head_object(Bucket=BUCKET, Key="app.js")
    assert script["ContentType"].startswith("text/javascript")
    assert s3.head_object(Bucket=BUCKET, Key="img/logo.svg")["ContentType"].startswith(
        "image/svg+xml")


class StartTags(HTMLParser):
    """Every start tag of a page, in order, as (tag, attributes)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


API_POLICY = ("meta", {"http-equiv": "Content-Security-Policy",
                       "content": "connect-src 'self' https://abc123.execute-api.us-east-1.amazonaws.com"})


def test_the_published_page_may_connect_only_to_this_api(s3, site, sink):
    """CloudFront's policy allows every execute-api host of the region; the page's own
    narrows that to the API this stack deployed (a browser enforces both)."""
    page = (ROOT / "static_site" / "index.html").read_text()
    (site / "index.html").write_text(page)
    run(cfn_event("Create", sink), sink)

    published = s3.get_object(Bucket=BUCKET, Key="index.html")["Body"].read().decode()
    assert published.startswith("<!doctype html>\n")  # still first: no quirks mode
    tags = StartTags(published).tags
    assert tags[:3] == [("html", {"lang": "en"}), ("head", {}), API_POLICY]
    assert [*tags[:2], *tags[3:]] == StartTags(page).tags


@pytest.mark.parametrize(("page", "before"), [
    ("<!doctype html><html><head><title>x</title></head><body></body></html>",
     "<!doctype html><html><head>"),
    ("<!DOCTYPE html>\n<title>x</title><p>no head or html tags</p>", "<!DOCTYPE html>"),
    ("<title>x</title>", ""),
])
def test_the_api_policy_opens_the_head_however_the_page_is_written(page, before):
    policy = publisher.connect_policy(API_URL)
    published = publisher.with_policy(page.encode(), policy).decode()
    meta = '\n  <meta http-equiv="Content-Security-Policy" content="' + escape(policy) + '">'
    assert published == before + meta + page.removeprefix(before)
    assert API_POLICY in StartTags(published).tags


@pytest.mark.parametrize(("url", "origin"), [
    ("https://abc123.execute-api.us-east-1.amazonaws.com/", "https://abc123.execute-api.us-east-1.amazonaws.com"),
    ("https://API.example.com:8443/prod/", "https://api.example.com:8443"),
    ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
])
def test_the_policy_names_the_apis_origin(url, origin):
    assert publisher.connect_policy(url) == f"connect-src 'self' {origin}"


@pytest.mark.parametrize("url", [
    "abc123.execute-api.us-east-1.amazonaws.com", "ftp://host/", "https:///stage",
    "https://user:secret@host/", "https://a.com;img-src *", "https://[::1]/",
])
def test_an_api_url_a_policy_cannot_name_fails_the_publication_before_any_upload(
        s3, site, sink, url):
    answer = run(cfn_event("Create", sink, ResourceProperties={
        "Bucket": BUCKET, "ApiUrl": url, "SiteVersion": "arn:layer:1"}), sink)
    assert answer["Status"] == "FAILED"
    assert "ApiUrl must be an http(s) URL of a host name" in answer["Reason"]
    assert keys(s3) == set()


def test_every_file_is_revalidated(s3, site, sink):
    """The modules import each other by fixed names: none may be kept past an update."""
    run(cfn_event("Create", sink), sink)
    cache = {key: s3.head_object(Bucket=BUCKET, Key=key)["CacheControl"] for key in keys(s3)}
    assert cache == dict.fromkeys(cache, "no-cache")
    assert len(cache) == 5


def test_update_republishes_and_removes_stale_files(s3, site, sink):
    s3.put_object(Bucket=BUCKET, Key="old.js", Body=b"stale")
    (site / "app.js").unlink()
    (site / "new.js").write_text("export const y = 2;")
    (site / "index.html").write_text("<!doctype html><title>v2</title>")

    answer = run(cfn_event("Update", sink, OldResourceProperties={"Bucket": BUCKET}), sink)

    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["PhysicalResourceId"] == f"site-{BUCKET}"
    assert keys(s3) == {"index.html", "new.js", "style.css", "img/logo.svg", "config.json"}
    body = s3.get_object(Bucket=BUCKET, Key="index.html")["Body"].read()
    assert b"v2" in body


def test_update_to_another_bucket_answers_a_new_id_so_the_old_one_is_emptied(s3, site, sink):
    assert run(cfn_event("Create", sink), sink)["Status"] == "SUCCESS"  # the old bucket's
    s3.create_bucket(Bucket="new-site-bucket")
    update = cfn_event("Update", sink, OldResourceProperties={"Bucket": BUCKET})
    update["ResourceProperties"]["Bucket"] = "new-site-bucket"

    answer = run(update, sink)

    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["PhysicalResourceId"] == "site-new-site-bucket"
    published = s3.list_objects_v2(Bucket="new-site-bucket")["Contents"]
    assert {"index.html", "config.json"} <= {o["Key"] for o in published}
    # The old bucket stays published until CloudFormation, seeing the new id, deletes the
    # old resource once the stack's update is done.
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] > 0
    cleanup = cfn_event("Delete", sink, RequestId="req-cleanup")
    assert run(cleanup, sink)["Status"] == "SUCCESS"
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    assert s3.list_objects_v2(Bucket="new-site-bucket")["KeyCount"] == len(published)


def test_failed_update_keeps_its_id(s3, site, sink):
    update = cfn_event("Update", sink, OldResourceProperties={"Bucket": BUCKET})
    update["ResourceProperties"]["Bucket"] = "no-such-bucket"

    answer = run(update, sink)

    assert answer["Status"] == "FAILED"
    assert answer["PhysicalResourceId"] == f"site-{BUCKET}"


def test_delete_empties_every_version(s3, site, sink):
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"2"):
        s3.put_object(Bucket=BUCKET, Key="index.html", Body=body)
    s3.put_object(Bucket=BUCKET, Key="gone.js", Body=b"x")
    s3.delete_object(Bucket=BUCKET, Key="gone.js")  # leaves a delete marker

    answer = run(cfn_event("Delete", sink), sink)

    assert answer["Status"] == "SUCCESS", answer["Reason"]
    versions = s3.list_object_versions(Bucket=BUCKET)
    assert not versions.get("Versions")
    assert not versions.get("DeleteMarkers")
    s3.delete_bucket(Bucket=BUCKET)  # what CloudFormation does next


def test_delete_of_a_missing_bucket_succeeds(s3, site, sink):
    answer = run(cfn_event("Delete", sink, bucket="never-created"), sink)
    assert answer["Status"] == "SUCCESS", answer["Reason"]


def test_failure_is_reported_with_the_reason(s3, site, sink):
    answer = run(cfn_event("Create", sink, bucket="no-such-bucket"), sink)

    assert answer["Status"] == "FAILED"
    assert "NoSuchBucket" in answer["Reason"]
    assert f"log stream {LambdaContext.log_stream_name}" in answer["Reason"]  # where to look


def test_the_response_is_sent_again_when_the_url_fails(s3, site, sink):
    sink.refuse = 2
    answer = run(cfn_event("Create", sink), sink)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert sink.attempts == 3


def test_a_response_that_never_arrives_fails_the_invocation(s3, site, sink):
    """Returning quietly would leave the stack waiting out ServiceTimeout; failing lets
    Lambda run the (asynchronous) invocation again."""
    sink.refuse = publisher.RESPONSE_ATTEMPTS
    with pytest.raises(publisher.ResponseNotDeliveredError):
        publisher.handler(cfn_event("Create", sink), LambdaContext())
    assert sink.attempts == publisher.RESPONSE_ATTEMPTS
    assert sink.responses == []


def test_a_long_failure_reason_is_cut_to_what_cloudformation_takes(s3, site, sink, monkeypatch):
    def fails(event):
        raise RuntimeError("x" * 10_000)

    monkeypatch.setattr(publisher, "dispatch", fails)
    answer = run(cfn_event("Create", sink), sink)
    assert answer["Status"] == "FAILED"
    assert 1000 < len(answer["Reason"]) <= 3000


def test_delete_fails_when_the_bucket_cannot_be_read(s3, site, sink, monkeypatch):
    """Only a missing bucket counts as emptied; AccessDenied must not leave a full one."""
    from botocore.exceptions import ClientError

    spy = spy_on_deletes(monkeypatch)

    def denied(**kwargs):
        raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadBucket")

    spy.head_bucket = denied
    answer = run(cfn_event("Delete", sink), sink)
    assert answer["Status"] == "FAILED"
    assert "403" in answer["Reason"]


def test_missing_site_is_a_failure_not_an_empty_site(s3, tmp_path, monkeypatch, sink):
    monkeypatch.setenv("SITE_DIR", str(tmp_path / "absent"))
    answer = run(cfn_event("Create", sink), sink)
    assert answer["Status"] == "FAILED"
    assert "index.html" in answer["Reason"]
    assert "run `make build` (or `sam build`), then `sam deploy`" in answer["Reason"]
    assert keys(s3) == set()


def test_an_unbuilt_site_layer_says_to_build_first(s3, site, monkeypatch, sink):
    """`sam deploy` of the source template zips static_site/ as it is: Lambda mounts its
    files at /opt/, not /opt/site, and the stack fails after CloudFront and the API exist."""
    monkeypatch.setenv("SITE_DIR", str(site / "site"))  # site/ plays /opt: files, no site/
    answer = run(cfn_event("Create", sink), sink)
    assert answer["Status"] == "FAILED"
    assert (f"no index.html in {site / 'site'} but one in {site}: the site layer was not "
            "built: run `make build` (or `sam build`), then `sam deploy`") in answer["Reason"]
    assert keys(s3) == set()


def test_deletes_more_stale_objects_than_one_request_takes(s3, site, sink, monkeypatch):
    for i in range(1001):
        s3.put_object(Bucket=BUCKET, Key=f"old/{i:04}.js", Body=b"stale")
    spy = spy_on_deletes(monkeypatch)

    answer = run(cfn_event("Update", sink), sink)

    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert keys(s3) == {"index.html", "app.js", "style.css", "img/logo.svg", "config.json"}
    assert spy.batches == [1000, 1]  # DeleteObjects takes at most 1000 keys


@pytest.mark.parametrize("request_type", ["Update", "Delete"])
def test_objects_s3_will_not_delete_fail_the_request(s3, site, sink, monkeypatch, request_type):
    s3.put_object(Bucket=BUCKET, Key="old.js", Body=b"stale")
    refused = [{"Key": "old.js", "Code": "AccessDenied", "Message": "Access Denied"}]
    spy_on_deletes(monkeypatch, errors=refused)

    answer = run(cfn_event(request_type, sink), sink)

    assert answer["Status"] == "FAILED"
    assert "old.js" in answer["Reason"]
    assert "Access Denied" in answer["Reason"]


def test_answers_failed_before_lambda_times_out(s3, site, sink, monkeypatch):
    timers: list[HandFiredTimer] = []

    def make_timer(*args, **kwargs) -> HandFiredTimer:
        timers.append(HandFiredTimer(*args, **kwargs))
        return timers[-1]

    entered, release = threading.Event(), threading.Event()

    def stuck(event: dict) -> dict:
        entered.set()
        release.wait(30)
        return {}

    monkeypatch.setattr(publisher.threading, "Timer", make_timer)
    monkeypatch.setattr(publisher, "dispatch", stuck)
    worker = threading.Thread(target=publisher.handler, daemon=True,
                              args=(cfn_event("Create", sink), LambdaContext(remaining_ms=60_000)))
    worker.start()
    assert entered.wait(10), "dispatch never ran"
    [guard] = timers
    assert guard.started
    assert guard.interval == 60 - publisher.TIMEOUT_MARGIN_S  # fires before Lambda's limit

    guard.fire()  # Lambda's time is nearly up while dispatch still works
    assert [r["Status"] for r in sink.responses] == ["FAILED"]
    assert "Timed out" in sink.responses[0]["Reason"]
    release.set()  # dispatch finishes after all
    worker.join(10)
    assert not worker.is_alive()
    assert [r["Status"] for r in sink.responses] == ["FAILED"]  # the late SUCCESS is dropped
    assert guard.cancelled


# What IAM checks each S3 call the publisher makes against (Service Authorization
# Reference, Amazon S3): (action, on the bucket or on the object). DeleteObjects is checked
# per object, as DeleteObject, or DeleteObjectVersion when a version is named.
S3_ACTIONS = {
    "PutObject": ("s3:PutObject", "object"),
    "ListObjectsV2": ("s3:ListBucket", "bucket"),
    "ListObjectVersions": ("s3:ListBucketVersions", "bucket"),
    "HeadBucket": ("s3:ListBucket", "bucket"),
}


def test_the_publishers_role_allows_every_s3_call_it_makes(s3, site, sink, monkeypatch):
    """Least privilege must not go below need: an action the role lacks fails the deploy, or,
    on delete, leaves the bucket full and the stack DELETE_FAILED."""
    from samtranslator.yaml_helper import yaml_parse
    from test_template import allows, deployed, role_statements

    calls: list[tuple[str, dict]] = []
    real_client = boto3.client

    def recording_client(*args, **kwargs):
        client = real_client(*args, **kwargs)
        client.meta.events.register(
            "before-parameter-build.s3.*",
            lambda model, params, **_: calls.append((model.name, dict(params))))
        return client

    monkeypatch.setattr(publisher.boto3, "client", recording_client)
    s3.put_object(Bucket=BUCKET, Key="old.js", Body=b"stale")
    assert run(cfn_event("Create", sink), sink)["Status"] == "SUCCESS"  # removes old.js
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key="index.html", Body=b"v2")
    assert run(cfn_event("Delete", sink), sink)["Status"] == "SUCCESS"

    needed: set[tuple[str, str]] = set()
    for operation, params in calls:
        if operation == "DeleteObjects":
            for obj in params["Delete"]["Objects"]:
                action = "s3:DeleteObjectVersion" if "VersionId" in obj else "s3:DeleteObject"
                needed.add((action, f"arn:aws:s3:::site-bucket/{obj['Key']}"))
            continue
        assert operation in S3_ACTIONS, f"which IAM action does {operation} need?"
        action, on = S3_ACTIONS[operation]
        key = f"/{params['Key']}" if on == "object" else ""
        needed.add((action, f"arn:aws:s3:::site-bucket{key}"))  # the role's stand-in bucket
    assert {action for action, _ in needed} >= {
        "s3:PutObject", "s3:ListBucket", "s3:ListBucketVersions", "s3:DeleteObject",
        "s3:DeleteObjectVersion"}  # every path was taken
    source = yaml_parse((ROOT / "template.yaml").read_text())
    statements = role_statements(deployed(source), "SitePublisherFunction")
    refused = sorted(pair for pair in needed if not allows(statements, *pair))
    assert refused == []


def test_a_response_url_that_never_answers_is_given_up_on(s3, site, monkeypatch):
    """A PUT left waiting would hold the invocation (and the timer's FAILED, which waits for
    it) until Lambda kills it: each attempt has a timeout, then the invocation fails."""
    import socket

    monkeypatch.setattr(publisher, "RESPONSE_TIMEOUT_S", 0.5)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connects, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/response"
        event = cfn_event("Create", SimpleNamespace(url=url))
        outcome: list[BaseException] = []

        def invoke() -> None:
            try:
                publisher.handler(event, LambdaContext())
            except BaseException as exc:  # what the invocation ends with
                outcome.append(exc)

        worker = threading.Thread(target=invoke, daemon=True)
        worker.start()
        worker.join(10)
    assert not worker.is_alive(), "the invocation hangs on the ResponseURL"
    assert [type(exc) for exc in outcome] == [publisher.ResponseNotDeliveredError]
