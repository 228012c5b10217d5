"""Shared by the infrastructure tests: `sam build` once per session and CPU, and running
its output.

The tests run the x86_64 build (this machine's CPU), whose compiled wheels load here,
in-process and in the stand-in Lambda image alike; the arm64 build, `make build`'s
default, is only read. Each is finished as `make build` finishes it
(tools/post_build.py), so the tests run what is deployed.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.package_size import function_layers
from tools.paths import EVENTS_DIR  # noqa: F401 (for the tests)
from tools.sam_build import BIN, sam_env  # noqa: F401 (for the tests)
from tools.sam_build import make_build as sam_build_into
from tools.standin_image import LAMBDA_RUNTIME_PROVIDES, copy_distributions

# Runs in a Python with no site-packages: only the built artifacts are importable,
# laid out as Lambda lays them out (/var/task first, then /opt/python: the python/
# folders of the function's layers, which Lambda merges there),
# then what /var/runtime provides (boto3, botocore, ...: runtime_site()).
SYS_PATH = """
import os, sys
task, opt_python, var_runtime, *args = sys.argv[1:]
sys.path[:0] = [task, *opt_python.split(os.pathsep)]
sys.path.append(var_runtime)
"""
INVOKE_SCRIPT = SYS_PATH + """
import json, time
from types import SimpleNamespace
events = args
started = time.perf_counter()
import app
print(json.dumps({"import_s": time.perf_counter() - started}))
context = SimpleNamespace(
    function_name="predict", function_version="$LATEST", memory_limit_in_mb=1024,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:predict",
    aws_request_id="req-1", log_group_name="/aws/lambda/predict", log_stream_name="s",
    get_remaining_time_in_millis=lambda: 10_000)
for path in events:
    with open(path) as f:
        answer = app.handler(json.load(f), context)
    print(json.dumps({"event": path, "answer": answer}))
"""


def built_app(architecture: str = "x86_64") -> Path:
    """`sam build` for `architecture` into a temporary folder, finished (once per session
    each: x86_64, which runs here, or the deployed default, arm64)."""
    return _built_app(architecture)  # one cache key, however the CPU is passed


@functools.cache
def _built_app(architecture: str) -> Path:
    build_dir = Path(tempfile.mkdtemp(prefix=f"sam-build-{architecture}-"))
    atexit.register(shutil.rmtree, build_dir, ignore_errors=True)
    sam_build_into(build_dir, architecture=architecture)
    return build_dir


@functools.cache
def runtime_site() -> Path:
    """What /var/runtime provides on Lambda besides the runtime client: boto3, botocore and
    their dependencies (this venv's versions), in a folder of their own (once per session)."""
    folder = Path(tempfile.mkdtemp(prefix="var-runtime-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    copy_distributions(LAMBDA_RUNTIME_PROVIDES, folder)
    return folder


def run_built(build_dir: Path, script: str, args: list[str], env: dict[str, str]) -> str:
    """Run script in a fresh interpreter importing only the built artifacts and /var/runtime."""
    layers = [build_dir / name for name in function_layers(build_dir)["PredictFunction"]]
    opt_python = os.pathsep.join(str(d / "python") for d in layers if (d / "python").is_dir())
    cmd = [sys.executable, "-I", "-S", "-c", script, str(build_dir / "PredictFunction"),
           opt_python, str(runtime_site()), *args]
    done = subprocess.run(cmd, env={"MODEL_DIR": str(build_dir / "ModelLayer" / "model"),
                                    "PATH": os.environ.get("PATH", ""), **env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def invoke_built(build_dir: Path, events: list[Path]) -> list[dict]:
    """Run the built handler on events in a fresh interpreter; the layers stand in for /opt."""
    env = {"POWERTOOLS_SERVICE_NAME": "digit-recognizer", "POWERTOOLS_LOG_LEVEL": "WARNING",
           "POWERTOOLS_METRICS_NAMESPACE": "DigitRecognizer/sam-app",  # as deployed: per stack
           # As Lambda under `sam local` sets them: a function name, and no X-Ray daemon.
           "AWS_LAMBDA_FUNCTION_NAME": "PredictFunction", "AWS_SAM_LOCAL": "true"}
    out = run_built(build_dir, INVOKE_SCRIPT, [str(e) for e in events], env)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if "event" in line]




def image_kind_events(folder: Path) -> list[Path]:
    """HTTP API events of the images the sample events leave out, each a "7": an opaque PNG,
    JPEG, WebP and GIF drawing, a shaded photo, a page on a table, and a batch of them all.
    They take code a see-through canvas never reaches (the photo and page code's float
    medians import numpy.ma; each format its own Pillow codec), which a trimmed build must keep."""
    from api_helpers import SEVEN, b64, drawn_digit, load_event
    from test_page_on_table import TABLES, page_on_table
    from test_preprocess_photos import photo

    images = {fmt: drawn_digit(SEVEN, fmt=fmt, mode="RGB") for fmt in ("PNG", "JPEG", "WEBP",
                                                                       "GIF")}
    images["shaded-photo"] = photo(SEVEN, grad=60)
    images["page-on-a-table"] = page_on_table(SEVEN, TABLES["wood"])[0]
    items = [{"image": b64(data)} for data in images.values()]
    single, batch = load_event("v2-predict-pixels"), load_event("v2-predict-batch")
    bodies = {f"image-{kind}": item for kind, item in zip(images, items, strict=True)}
    events = []
    for name, body in [*bodies.items(), ("image-batch", {"items": items})]:
        event = {**(batch if name == "image-batch" else single), "body": json.dumps(body)}
        events.append(folder / f"{name}.json")
        events[-1].write_text(json.dumps(event))
    return events
