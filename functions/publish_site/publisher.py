"""CloudFormation custom resource that publishes the static site into its bucket.

Create/Update: upload every file of the site (SITE_DIR, the site layer at
/opt/site in Lambda) with its Content-Type and Cache-Control, write
`config.json` with the API URL the page calls, and delete objects the site no
longer has. Delete: empty the bucket (every version), so the stack can delete it.

Each HTML page gets a Content-Security-Policy `<meta>` that lets it connect to
its own origin and this API only. CloudFront's header policy can name only every
execute-api host of the region (naming this API there would make a cycle: the
API's CORS names the distribution); a browser enforces both policies, so the
meta narrows the page's connections to the one API the stack deployed.

Every file is served `Cache-Control: no-cache`: the ES modules import each other
by fixed names, so a browser keeping any of them after an update could pair a
new app.js with an old api.js and break the page. Browsers revalidate with the
ETag (a 304 when unchanged); CloudFront's CachingOptimized policy then keeps an
object at most its 1 s minimum TTL.

The stack must never hang: every path ends with a response to the ResponseURL,
and a timer sends FAILED shortly before Lambda would kill the invocation.
Only the standard library and the runtime's boto3 are used.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import re
import threading
import urllib.request
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)

CONFIG_KEY = "config.json"
# For every file: the site's names carry no content hash (see the module docstring).
REVALIDATE = "no-cache"
TIMEOUT_MARGIN_S = 5.0
RESPONSE_TIMEOUT_S = 20.0
RESPONSE_ATTEMPTS = 3


def handler(event: dict[str, Any], context: Any) -> None:
    """Lambda entry point: do the request, then always answer CloudFormation."""
    responder = Responder(event, context)
    budget_s = context.get_remaining_time_in_millis() / 1000 - TIMEOUT_MARGIN_S
    guard = threading.Timer(
        max(budget_s, 0.0), responder.send, ("FAILED", "Timed out before Lambda's limit"),
    )
    guard.daemon = True
    guard.start()
    try:
        data = dispatch(event)
    except Exception as exc:  # any failure must become a FAILED response, never a hang
        LOG.exception("%s failed", event.get("RequestType"))
        responder.send("FAILED", f"{type(exc).__name__}: {exc}")
    else:
        responder.send("SUCCESS", "", data)
    finally:
        guard.cancel()


def dispatch(event: dict[str, Any]) -> dict[str, str]:
    props = event["ResourceProperties"]
    bucket = props["Bucket"]
    if event["RequestType"] == "Delete":
        removed = empty_bucket(bucket)
        return {"Removed": str(removed)}
    site_dir = Path(os.environ.get("SITE_DIR", "/opt/site"))
    uploaded = publish(bucket, site_dir, props["ApiUrl"])
    return {"Uploaded": str(len(uploaded))}


def publish(bucket: str, site_dir: Path, api_url: str) -> set[str]:
    """Upload the site and its config; remove stale objects. Returns the keys written."""
    s3 = boto3.client("s3")
    objects = site_objects(site_dir, api_url)  # before any upload: a bad URL writes nothing
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body, **object_headers(key))
    written = set(objects)
    stale = [key for key in current_keys(s3, bucket) if key not in written]
    delete_keys(s3, bucket, [{"Key": key} for key in stale])
    LOG.info("published %d files to %s, removed %d stale", len(written), bucket, len(stale))
    return written


def site_objects(site_dir: Path, api_url: str) -> dict[str, bytes]:
    """What the site publishes, object key -> body: its files, each HTML page with the
    policy naming api_url, and the config.json that names it to the page."""
    files = dict(site_files(site_dir))
    if "index.html" not in files:
        raise FileNotFoundError(missing_site_message(site_dir))
    policy = connect_policy(api_url)
    objects: dict[str, bytes] = {}
    for key, path in files.items():
        body = path.read_bytes()
        objects[key] = with_policy(body, policy) if key.endswith(".html") else body
    objects[CONFIG_KEY] = json.dumps({"apiUrl": api_url.rstrip("/")}).encode()
    return objects


def connect_policy(api_url: str) -> str:
    """The pages' own policy: fetches to their origin and to api_url's only (see the
    module docstring). Refuses a URL whose origin a policy could not name."""
    parts = urlsplit(api_url)
    host = parts.hostname or ""
    if (parts.scheme not in ("https", "http") or parts.username is not None
            or not re.fullmatch(r"[a-z0-9.-]+", host)):
        raise ValueError(f"ApiUrl must be an http(s) URL of a host name, not {api_url!r}")
    port = f":{parts.port}" if parts.port else ""
    return f"connect-src 'self' {parts.scheme}://{host}{port}"


def with_policy(page: bytes, policy: str) -> bytes:
    """The page with `policy` in a CSP meta, first in its head."""
    meta = f'<meta http-equiv="Content-Security-Policy" content="{escape(policy)}">'
    text = page.decode("utf-8")
    # After <head>, or where the parser opens an implied one: past the doctype (a meta
    # before it would put the page in quirks mode).
    anchor = (re.search(r"<head(\s[^>]*)?>", text, re.IGNORECASE)
              or re.search(r"<!doctype[^>]*>", text, re.IGNORECASE))
    at = anchor.end() if anchor else 0
    return f"{text[:at]}\n  {meta}{text[at:]}".encode()


def missing_site_message(site_dir: Path) -> str:
    """Why the site is missing and what to do: deployed from the source template (no
    build), the layer holds static_site/ as it is, so its files land beside site_dir
    (/opt/index.html), not in it; the stack then rolls back."""
    todo = "run `make build` (or `sam build`), then `sam deploy`"
    if (site_dir.parent / "index.html").is_file():
        return (f"no index.html in {site_dir} but one in {site_dir.parent}: the site layer "
                f"was not built: {todo}")
    return f"no index.html in {site_dir}: was the site layer built? {todo}"


def site_files(site_dir: Path) -> Iterator[tuple[str, Path]]:
    """(object key, file) for every published file; dotfiles and caches are skipped."""
    for path in sorted(site_dir.rglob("*")):
        rel = path.relative_to(site_dir)
        if path.is_file() and not any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
            yield rel.as_posix(), path


def object_headers(key: str) -> dict[str, str]:
    content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type in ("application/json", "image/svg+xml"):
        content_type += "; charset=utf-8"
    return {"ContentType": content_type, "CacheControl": REVALIDATE}


def current_keys(s3: Any, bucket: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            yield obj["Key"]


def empty_bucket(bucket: str) -> int:
    """Delete every object version and delete marker; a missing bucket is already empty."""
    s3 = boto3.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket"):
            LOG.info("bucket %s is gone; nothing to empty", bucket)
            return 0
        raise
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        objects = [{"Key": e["Key"], "VersionId": e["VersionId"]} for e in entries]
        delete_keys(s3, bucket, objects)
        removed += len(objects)
    LOG.info("emptied %s: %d versions removed", bucket, removed)
    return removed


def delete_keys(s3: Any, bucket: str, objects: list[dict[str, str]]) -> None:
    for start in range(0, len(objects), 1000):  # DeleteObjects takes at most 1000 keys
        batch = objects[start:start + 1000]
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise RuntimeError(f"could not delete {first['Key']}: {first.get('Message')}")


class Responder:
    """Sends the one response CloudFormation waits for (later calls are ignored)."""

    def __init__(self, event: dict[str, Any], context: Any) -> None:
        self._event = event
        self._log_stream = getattr(context, "log_stream_name", "unknown")
        self._lock = threading.Lock()
        self.sent: str | None = None

    def send(self, status: str, reason: str, data: dict[str, str] | None = None) -> None:
        with self._lock:
            if self.sent is not None:
                return
            self.sent = status
            event = self._event
            body = {
                "Status": status,
                "Reason": f"{reason} (log stream {self._log_stream})"[:3000],
                "PhysicalResourceId": physical_id(event, status),
                "StackId": event["StackId"],
                "RequestId": event["RequestId"],
                "LogicalResourceId": event["LogicalResourceId"],
                "Data": data or {},
            }
            put_response(event["ResponseURL"], json.dumps(body).encode())


def physical_id(event: dict[str, Any], status: str) -> str:
    """One id per bucket: a successful update to another bucket answers a new id, so
    CloudFormation then sends a Delete that empties the old bucket (else left full, it
    could never be deleted). Deletes and failures keep the id they came with."""
    old = event.get("PhysicalResourceId")
    if old and (event.get("RequestType") == "Delete" or status != "SUCCESS"):
        return old
    return f"site-{event.get('ResourceProperties', {}).get('Bucket', 'none')}"


class ResponseNotDeliveredError(RuntimeError):
    """CloudFormation never got the answer: the invocation must fail, not end quietly."""


def put_response(url: str, body: bytes) -> None:
    """PUT the response to the pre-signed URL (empty Content-Type, as S3 signs it).

    After RESPONSE_ATTEMPTS failures, raise: CloudFormation invokes the function
    asynchronously, so Lambda runs it again (twice, minutes apart), where a quiet return
    would leave the stack waiting out the resource's ServiceTimeout."""
    headers = {"Content-Type": "", "Content-Length": str(len(body))}
    request = urllib.request.Request(url, data=body, method="PUT", headers=headers)
    for attempt in range(1, RESPONSE_ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=RESPONSE_TIMEOUT_S) as answer:
                LOG.info("response sent: HTTP %s", answer.status)
                return
        except OSError:
            LOG.exception("sending the response failed (attempt %d)", attempt)
    raise ResponseNotDeliveredError(f"no response reached CloudFormation in {RESPONSE_ATTEMPTS} "
                               "attempts")
