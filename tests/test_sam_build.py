"""`sam build` works offline, lays the layers out as Lambda mounts them, and its output runs.

The built function runs in a fresh interpreter with no site-packages: only the
built function (standing in for /var/task), the built dependencies and model
layers (for /opt) and, after them, what /var/runtime provides on Lambda (boto3, botocore and
their dependencies, which post_build leaves out of the function) are
importable, on the sample events in events/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import boto3
import publisher
import pytest
from conftest import skip_or_fail
from infra_helpers import (
    EVENTS_DIR,
    SYS_PATH,
    built_app,
    image_kind_events,
    invoke_built,
    run_built,
    runtime_site,
    sam_build_into,
)
from moto import mock_aws
from samcli.lib.utils.hash import dir_checksum
from samtranslator.yaml_helper import yaml_parse

from tools.package_size import MB, deployed_bytes, measure_build
from tools.paths import ROOT
from tools.post_build import LAMBDA_ARCHITECTURES, elf_machine, strip_tool

pytestmark = pytest.mark.slow
LAMBDA_UNZIPPED_LIMIT = 250 * MB
SIZE_BUDGET = 60 * MB  # issue 7: function plus layers, unzipped
CPU = {lam: elf for elf, lam in LAMBDA_ARCHITECTURES.items()}  # Lambda's name -> the ELF's


@pytest.fixture(scope="module")
def build_dir() -> Path:
    """The x86_64 build, which runs on this machine."""
    return built_app()


@pytest.fixture(scope="module", params=["x86_64", "arm64"])
def architecture(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def any_build(architecture: str) -> Path:
    """Either build: x86_64, or arm64, what `make build` builds and deploys by default
    (its code cannot run here, but what it ships can be read)."""
    return built_app(architecture)


@pytest.fixture
def binutils(architecture: str) -> None:
    """post_build strips the shared libraries only where binutils is installed, with a
    strip that reads the built CPU's ELF files."""
    if not shutil.which("readelf") or strip_tool(CPU[architecture]) is None:
        skip_or_fail(f"no binutils to strip {architecture} libraries (tools/system-deps.sh)")


def test_function_is_built_for_the_requested_architecture(any_build, architecture):
    wheels = list((any_build / "DepsLayer" / "python").glob("numpy-*.dist-info/WHEEL"))
    assert wheels, "numpy was not installed into the dependencies layer"
    tags = [line for line in wheels[0].read_text().splitlines() if line.startswith("Tag:")]
    assert tags
    assert all(tag.endswith(f"_{CPU[architecture]}") for tag in tags), tags


def test_every_binary_shipped_is_for_the_functions_cpu(any_build, architecture):
    """A dependency with no wheel for the CPU would be compiled for this machine's instead
    (and fail to import in Lambda): every ELF file of every package must be the CPU's."""
    binaries = {path.relative_to(any_build).as_posix(): machine for path in any_build.rglob("*")
                if path.is_file() and not path.is_symlink() and (machine := elf_machine(path))}
    assert any(path.startswith("DepsLayer/python/numpy/") for path in binaries)
    assert {path: m for path, m in binaries.items() if m != CPU[architecture]} == {}


def test_the_built_template_deploys_only_the_built_architecture(any_build, architecture):
    from samcli.yamlhelper import yaml_parse

    template = yaml_parse((any_build / "template.yaml").read_text())
    assert template["Parameters"]["Architecture"]["AllowedValues"] == [architecture]


def test_layers_are_laid_out_as_lambda_mounts_them(any_build):
    model_layer = any_build / "ModelLayer"
    assert (model_layer / "python" / "digitnet" / "__init__.py").is_file()  # /opt/python/digitnet
    assert (model_layer / "model" / "manifest.json").is_file()  # /opt/model
    assert (model_layer / "model" / "model.npz").is_file()
    pycs = list(model_layer.rglob("*.pyc"))
    assert pycs  # precompiled by tools/post_build.py, none copied from a working tree
    assert all(int.from_bytes(p.read_bytes()[4:8], "little") == 0b01 for p in pycs)
    site = any_build / "SiteContentLayer" / "site"
    assert (site / "index.html").is_file()
    publisher = any_build / "SitePublisherFunction"
    assert sorted(p.name for p in publisher.iterdir()) == ["publisher.py"]


def test_post_build_trimmed_and_precompiled(any_build):
    deps = any_build / "DepsLayer" / "python"
    assert not list(deps.glob("numpy/**/tests"))
    assert not list(deps.glob("PIL/_avif.*"))
    assert not list(deps.glob("pillow.libs/libavif*"))
    assert list(deps.glob("pillow.libs/libjpeg*"))  # still needed by PIL._imaging
    pyc = next((any_build / "PredictFunction" / "__pycache__").glob("app.cpython-312*.pyc"))
    flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
    assert flags == 0b01  # hash-based, unchecked: valid whatever the zip does to mtimes


def test_dependencies_ship_as_bytecode_only(any_build):
    assert (any_build / "PredictFunction" / "app.py").is_file()  # the app keeps its sources
    deps = any_build / "DepsLayer" / "python"
    assert (deps / "pydantic" / "main.pyc").is_file()
    assert not (deps / "pydantic" / "main.py").exists()
    assert (deps / "anyio" / "__init__.py").is_file()  # anyio reads it at run time
    assert not list(deps.glob("numpy/**/*.py"))


def test_shared_libraries_are_stripped(binutils, any_build):
    libraries = list((any_build / "DepsLayer").glob("python/numpy/_core/_multiarray_umath.*.so"))
    assert libraries
    for library in libraries:
        sections = subprocess.run(["readelf", "-S", str(library)], capture_output=True,
                                  text=True, check=True).stdout
        assert ".dynsym" in sections
        assert ".symtab" not in sections


def test_function_holds_only_the_code(any_build):
    function = any_build / "PredictFunction"
    assert (function / "app.py").is_file()
    assert not list(function.glob("*.dist-info"))  # a code change re-uploads only the code
    assert sum(p.stat().st_size for p in function.rglob("*") if p.is_file()) < MB


def test_runtime_provided_packages_are_left_to_the_runtime(any_build):
    deps = any_build / "DepsLayer" / "python"
    for name in ("botocore", "boto3", "s3transfer", "dateutil", "urllib3", "six.py"):
        assert not (deps / name).exists(), name
    assert (deps / "jmespath").is_dir()  # the Powertools Logger's own requirement
    assert (deps / "aws_xray_sdk").is_dir()



def test_the_layer_ships_exactly_the_pinned_versions(any_build):
    """Every distribution the function ships is pinned in layers/deps/requirements.txt, so
    two builds of one commit ship the same code (and nothing pinned is missing)."""
    from importlib.metadata import distributions

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lines = (ROOT / "layers" / "deps" / "requirements.txt").read_text().splitlines()
    pinned = {}
    for line in lines:
        if line.split("#")[0].strip():
            requirement = Requirement(line.split("#")[0])
            (spec,) = requirement.specifier
            assert spec.operator == "==", line
            pinned[canonicalize_name(requirement.name)] = spec.version
    shipped = {canonicalize_name(d.metadata["Name"]): d.version
               for d in distributions(path=[str(any_build / "DepsLayer" / "python")])}
    assert shipped == pinned


TRACER_SCRIPT = SYS_PATH + """
import json
from aws_lambda_powertools import Tracer
from aws_xray_sdk.core import patcher
import botocore
Tracer(service="digit-recognizer")  # enabled: in Lambda, no `sam local`, not disabled
print(json.dumps({"botocore": botocore.__file__, "patched": sorted(patcher._PATCHED_MODULES)}))
"""


def test_tracer_patches_the_runtimes_botocore(build_dir):
    lambda_env = {"AWS_LAMBDA_FUNCTION_NAME": "PredictFunction", "LAMBDA_TASK_ROOT": "/var/task"}
    out = run_built(build_dir, TRACER_SCRIPT, [], lambda_env)
    found = json.loads(out.splitlines()[-1])
    assert Path(found["botocore"]).is_relative_to(runtime_site())
    assert "botocore" in found["patched"]


@pytest.fixture(scope="module")
def predict_and_layers_bytes(any_build: Path) -> int:
    """The predict function and its layers, unzipped; measured once (it zips everything)."""
    sizes = measure_build(any_build)
    assert {"PredictFunction", "DepsLayer", "ModelLayer"} <= {s.name for s in sizes}
    return deployed_bytes(sizes, any_build)["PredictFunction"]


def test_function_and_layers_fit_lambda(predict_and_layers_bytes):
    assert predict_and_layers_bytes < LAMBDA_UNZIPPED_LIMIT


def test_function_and_layers_fit_the_size_budget(binutils, predict_and_layers_bytes):
    assert predict_and_layers_bytes < SIZE_BUDGET


def test_model_layer_build_follows_a_symlinked_weights_file(tmp_path):
    """A model directory may link its weights from elsewhere: it loads, so it must ship."""
    layer = tmp_path / "layer"
    shutil.copytree(ROOT / "layers" / "model", layer, symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (layer / "model" / "model.npz").rename(tmp_path / "model.npz")
    (layer / "model" / "model.npz").symlink_to(tmp_path / "model.npz")
    out = tmp_path / "artifacts"
    subprocess.run(["make", "-s", "build-ModelLayer", f"ARTIFACTS_DIR={out}"], cwd=layer,
                   check=True)
    built = out / "model" / "model.npz"
    assert built.is_file()
    assert not built.is_symlink()
    assert built.read_bytes() == (tmp_path / "model.npz").read_bytes()


def test_rebuilding_unchanged_sources_gives_identical_layers(build_dir, tmp_path):
    """What lets `sam deploy` skip uploading and versioning the layers on a code-only change."""
    again = tmp_path / "build"
    sam_build_into(again)
    for name in ("DepsLayer", "ModelLayer", "PredictFunction"):
        assert dir_checksum(str(again / name)) == dir_checksum(str(build_dir / name)), name


def test_built_function_answers_the_sample_events(build_dir):
    events = sorted(EVENTS_DIR.glob("v2-*.json"))
    assert events, "no HTTP API sample events in events/"
    results = {Path(r["event"]).name: r["answer"] for r in invoke_built(build_dir, events)}
    assert set(results) == {e.name for e in events}
    for name, answer in results.items():
        expected = range(400, 500) if "invalid" in name else (200,)
        assert answer["statusCode"] in expected, (name, answer)
    health = json.loads(results["v2-health.json"]["body"])
    assert health["ok"] is True
    for name, answer in results.items():
        if name.startswith("v2-predict-") and answer["statusCode"] == 200:
            body = json.loads(answer["body"])
            digits = [p["digit"] for p in body.get("predictions", [body])]
            assert digits
            assert all(d == 7 for d in digits), (name, digits)  # events/ all draw a "7"


def test_built_function_reads_every_image_kind(build_dir, tmp_path):
    """What the trimmed build must keep beyond the sample events: each format's Pillow codec
    and bundled library, and what NumPy imports lazily for the photo and page code."""
    events = image_kind_events(tmp_path)
    results = {Path(r["event"]).name: r["answer"] for r in invoke_built(build_dir, events)}
    assert set(results) == {e.name for e in events}
    for name, answer in results.items():
        assert answer["statusCode"] == 200, (name, answer)
        body = json.loads(answer["body"])
        digits = [p["digit"] for p in body.get("predictions", [body])]
        assert digits == [7] * len(digits), (name, digits)


def test_publisher_finds_the_built_site_where_lambda_mounts_it(build_dir, monkeypatch):
    template = yaml_parse((build_dir / "template.yaml").read_text())
    site_dir = template["Resources"]["SitePublisherFunction"]["Properties"]["Environment"][
        "Variables"]["SITE_DIR"]
    assert site_dir.startswith("/opt/")
    built_site = build_dir / "SiteContentLayer" / Path(site_dir).relative_to("/opt")
    expected = {p.relative_to(built_site).as_posix() for p in built_site.rglob("*") if p.is_file()}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="site")
        written = publisher.publish("site", built_site, "https://api.example")
        stored = {o["Key"] for o in s3.list_objects_v2(Bucket="site")["Contents"]}
    assert "index.html" in expected
    assert written == stored == expected | {"config.json"}
