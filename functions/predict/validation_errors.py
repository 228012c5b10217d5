"""A 422 that says what the client most likely meant, not only which rule failed.

pydantic's errors are listed without the inputs they carry (a 784-number list
each), at most MAX_LISTED_ERRORS of them, and with a hint where the mistake is a
common one: a typo of a field, a field of the other route, a 28x28 list of rows,
JSON that is no object (a list of items sent to /predict), or a body that is no JSON
at all (an image file, a form, a compressed body, UTF-16 text).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from api_errors import ApiError
from digitnet.imagefile import signature_format
from pydantic import ValidationError
from schemas import MAX_BATCH, N_PIXELS, BatchRequest, PredictRequest

# A form's content type: what the body is, and what to send instead. curl -d sends JSON as
# a form's type too: a body that starts like JSON is read as JSON with a typo.
FORMS = {"multipart/form-data": ("a file upload (curl -F, requests' files=)",
                                 '{"image": "<the file in base64>"}'),
         "application/x-www-form-urlencoded": ("form fields (curl -d k=v, requests' data=)",
                                               "the fields as JSON (requests' json=)")}
GZIP_MAGIC = b"\x1f\x8b"
EMPTY_BODY = ('the body is empty: send {"pixels": [784 numbers]} or {"image": "<a PNG, JPEG, '
              'WebP or GIF in base64>"}')
# JSON in UTF-16, as Windows PowerShell 5.1's Out-File and > write it: its byte order marks.
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# A body that is JSON but no object (a list, a string): what each route takes instead.
NOT_AN_OBJECT = {"PredictRequest": 'send one object, {"pixels": [...]} or {"image": "..."}; '
                                   'a list of them goes to POST /predict/batch as '
                                   '{"items": [...]}',
                 "BatchRequest": 'a batch is one object: {"items": [...]}'}
# An unknown field that belongs to the other route: the route to send it to.
OTHER_ROUTE = {**{(name,): "a batch's items go to POST /predict/batch"
                  for name in BatchRequest.model_fields},
               **{(name,): 'one image goes to POST /predict; a batch is {"items": [...]}'
                  for name in PredictRequest.model_fields}}
FIELDS = (*PredictRequest.model_fields, *BatchRequest.model_fields)
MAX_NAME = 64  # characters of an unknown field's name echoed back
# A batch of 256 items of 784 strings is 200,704 problems: listed in full, 20 MB of JSON,
# past Lambda's 6 MB response limit (so API Gateway would answer a 5xx).
MAX_LISTED_ERRORS = 20
# Every value of a full batch wrong: no body of the requests' shape has more problems. Past
# this, only the first few are read (from pydantic's JSON of them): 780,000 unknown fields in
# a 6 MB body made as many Python dicts, 0.6-0.8 s and 420 MB more (950 MB of RSS at peak,
# near the function's smallest memory size), for an answer that lists 20.
MAX_EXAMINED_ERRORS = MAX_BATCH * (N_PIXELS + len(PredictRequest.model_fields))
NOT_FLAT_MESSAGE = ("pixels must be one flat list of 784 numbers (the 28 rows one after "
                    "another), not a list of rows: flatten it, e.g. numpy's a.ravel().tolist()")


def invalid_body(exc: ValidationError, body: bytes, headers: Mapping[str, str]) -> ApiError:
    """The 422 for a body pydantic refused; when it is no JSON, the message says what it
    is instead (judged from the body and its Content-Type and Content-Encoding)."""
    items = validation_items(exc)
    for item in items:
        if item["type"] == "json_invalid" and (hint := _not_json(body, headers)):
            item["msg"] = f"{item['msg']}: {hint}"
        elif item["loc"] == ["body"] and (instead := _instead_of_no_object(item, exc.title)):
            item["msg"] = f"{item['msg']}: {instead}"
    return ApiError(422, ["body"], "invalid request", "validation", items)


def validation_items(exc: ValidationError) -> list[dict[str, object]]:
    """pydantic's errors without echoing the input back (a 784-number list per error), the
    first MAX_LISTED_ERRORS of them, then one item saying how many more there are."""
    count = exc.error_count()
    if count <= MAX_EXAMINED_ERRORS:
        raw = exc.errors(include_url=False, include_context=False)
    else:  # enough for MAX_LISTED_ERRORS once a list of rows is one problem (_rows_as_one)
        raw = _first_errors(exc, MAX_LISTED_ERRORS * N_PIXELS)
    errors = _rows_as_one(raw)
    unread = count - len(raw)  # problems not examined, each counted as one
    items: list[dict[str, object]] = [
        {"loc": ["body", *map(_shortened, err["loc"])], "msg": _with_hint(err),
         "type": err["type"]}
        for err in errors[:MAX_LISTED_ERRORS]
    ]
    if len(errors) + unread > MAX_LISTED_ERRORS:
        items.append({"loc": ["body"], "type": "too_many_errors",
                      "msg": f"and {len(errors) + unread - MAX_LISTED_ERRORS:,} more problems: "
                             f"only the first {MAX_LISTED_ERRORS} are listed"})
    return items


def _first_errors(exc: ValidationError, count: int) -> list[Any]:
    """pydantic's first `count` errors, as exc.errors() has them, read one by one from its
    JSON of all of them (made in Rust: a fifth of the time, a seventh of the memory)."""
    text = exc.json(include_url=False, include_context=False)
    decoder, errors, at = json.JSONDecoder(), [], 1  # past the list's "["
    while len(errors) < count and text[at] != "]":
        error, at = decoder.raw_decode(text, at)
        errors.append(error)
        if text[at] == ",":
            at += 1
    return errors


def _instead_of_no_object(item: dict[str, object], model: str) -> str | None:
    """What to send instead of JSON that is no object (a list of items sent to /predict)."""
    return NOT_AN_OBJECT.get(model) if item["type"] == "model_type" else None


def _shortened(part: str | int) -> str | int:
    """A field name (or a header) as the client sent it, cut to MAX_NAME characters: a 4 MB
    name echoed back (escaped twice as long) passed Lambda's 6 MB response limit, a 5xx."""
    if isinstance(part, str) and len(part) > MAX_NAME:
        return part[: MAX_NAME - 1] + "\N{HORIZONTAL ELLIPSIS}"
    return part


def _with_hint(err: Any) -> str:
    """pydantic's message, and for an unknown field the one meant: a typo of a known name,
    or a field of the other route (items sent to /predict, an image's to /predict/batch)."""
    loc, msg = tuple(err["loc"]), err["msg"]
    if err["type"] != "extra_forbidden" or not loc or not isinstance(loc[-1], str):
        return msg
    if loc in OTHER_ROUTE:
        return f"{msg}: {OTHER_ROUTE[loc]}"
    if len(loc[-1]) > MAX_NAME:  # no typo of a short name (difflib took 1 s on 6 MB)
        return msg
    others = [name for name in FIELDS if name != loc[-1]]  # "items" inside an item: no typo
    close = difflib.get_close_matches(loc[-1].lower(), others, n=1, cutoff=0.6)
    return f"{msg}: did you mean '{close[0]}'?" if close else msg


def _rows_as_one(errors: list[Any]) -> list[Any]:
    """A 28x28 list of rows (numpy's .tolist() of an image) as pixels: one problem that
    says to flatten it, not 28 "Input should be a valid number". The inputs, looked at
    here, are never echoed back."""
    out, flagged = [], set()
    for err in errors:
        loc = tuple(err["loc"])
        is_row = (err["type"] == "float_type" and len(loc) >= 2 and loc[-2] == "pixels"
                  and isinstance(err.get("input"), list))
        if not is_row:
            out.append(err)
        elif loc[:-1] not in flagged:
            flagged.add(loc[:-1])
            out.append({"loc": loc[:-1], "type": "pixels_not_flat", "msg": NOT_FLAT_MESSAGE})
    return out


def _not_json(body: bytes, headers: Mapping[str, str]) -> str:
    """What a body that is no JSON most likely is, and what to send instead ('' if unsure,
    or when it starts like JSON: a typo): nothing, a compressed body (neither API Gateway
    nor the app inflates one), an image file posted as it is (curl -d @a.png strips its
    line breaks, which a PNG's signature holds), UTF-16 text, or a form."""
    kind = headers.get("content-type", "").partition(";")[0].strip().lower()
    if not body.strip():
        return EMPTY_BODY
    if body.lstrip()[:1] in (b"{", b"["):
        return ""
    if body.startswith(UTF16_BOMS):
        return ("the body is UTF-16 text (Windows PowerShell 5.1's Out-File and > write it): "
                "send it as UTF-8, e.g. Out-File -Encoding utf8")
    encoding = headers.get("content-encoding", "").strip().lower()
    if body.startswith(GZIP_MAGIC) or encoding not in ("", "identity"):
        what = f"compressed ({_shortened(encoding) or 'gzip'})"  # a header: echoed cut short
        return f"the body is {what}: send the JSON uncompressed, with no Content-Encoding"
    found = signature_format(body) or ("PNG" if body.startswith(b"\x89PNG") else None)
    if found or kind.startswith("image/"):
        what = f"a {found}" if found else "an image"
        return f'the body is {what} file, not JSON: send {{"image": "<the file in base64>"}}'
    if kind in FORMS:
        what, instead = FORMS[kind]
        return f"the body is {what}, not JSON: send {instead}"
    return ""
