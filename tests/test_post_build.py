"""tools/post_build.py's rules on a small fake site-packages: what is trimmed, what is kept.

The real build's result is checked in test_sam_build.py; here each rule is checked
alone, on a tree built in tmp_path, so a rule that removes too much or too little
shows without a `sam build`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools import post_build

SO = ".cpython-312-x86_64-linux-gnu.so"


def make_tree(root: Path, files: dict[str, str]) -> Path:
    """Write `files` (relative path -> text) under root; return root."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def record(*names: str) -> str:
    """A dist-info RECORD listing `names`, itself among them as pip writes it (hashes and
    sizes do not matter here)."""
    return "".join(f"{name},sha256=x,1\n" for name in names)


@pytest.fixture
def runtime_is_this_python(monkeypatch) -> None:
    """Compile with whatever Python runs the tests (the version gate has its own test)."""
    monkeypatch.setattr(post_build, "RUNTIME_PYTHON", sys.version_info[:2])


# ---------------------------------------------------------------- slim

KEPT = {
    "app.py": "",
    "jmespath/__init__.py": "",
    "jmespath-1.0.1.dist-info/RECORD": record("jmespath/__init__.py",
                                              "jmespath-1.0.1.dist-info/RECORD"),
    "numpy/__init__.py": "",
    "numpy/linalg/__init__.py": "",
    "numpy/ma/__init__.py": "",  # np.median of floats imports it
    f"numpy/_core/_multiarray_umath{SO}": "",
    "pydantic/main.py": "",
    "aws_lambda_powertools/logging/logger.py": "",
    "aws_lambda_powertools/utilities/__init__.py": "",
    "aws_lambda_powertools/utilities/jmespath_utils/__init__.py": "",
    "aws_lambda_powertools/utilities/typing/__init__.py": "",
    "PIL/Image.py": "",
    f"PIL/_imaging{SO}": "",
    "pillow.libs/libjpeg-1a2b.so.62": "",
}
TRIMMED = {
    # provided by the Lambda runtime (found through each distribution's RECORD)
    "boto3/__init__.py": "",
    "boto3-1.35.0.dist-info/RECORD": record("boto3/__init__.py", "../../bin/boto3-tool",
                                            "boto3-1.35.0.dist-info/RECORD"),
    "botocore/client.py": "",
    "botocore-1.35.0.dist-info/RECORD": record("botocore/client.py",
                                               "botocore-1.35.0.dist-info/RECORD"),
    "six.py": "",
    "six-1.16.0.dist-info/RECORD": record("six.py",
                                          "six-1.16.0.dist-info/RECORD"),
    "dateutil/parser.py": "",
    "python_dateutil-2.9.0.dist-info/RECORD": record("dateutil/parser.py",
                                                     "python_dateutil-2.9.0.dist-info/RECORD"),
    # never imported by the app
    "numpy/_core/tests/test_umath.py": "",
    "numpy/tests/test_public_api.py": "",
    "numpy/fft/__init__.py": "",
    "numpy/_core/include/numpy/ndarrayobject.h": "",
    f"numpy/_core/_simd{SO}": "",
    "numpy/__init__.pyi": "",
    "numpy/__pycache__/__init__.cpython-312.pyc": "",
    "pydantic/v1/__init__.py": "",
    "aws_lambda_powertools/event_handler/api_gateway.py": "",
    "aws_lambda_powertools/utilities/batch/__init__.py": "",
    "aws_lambda_powertools/utilities/parser/__init__.py": "",
    f"PIL/_avif{SO}": "",
    "PIL/_imaging.c": "",
    # linked only by the removed AVIF codec, directly or through another library
    "pillow.libs/libavif-3c4d.so.16": "",
    "pillow.libs/libdav1d-5e6f.so.7": "",
}
# What each file links (stands in for readelf -d: the fake files are not ELF).
LINKS = {
    f"_imaging{SO}": {"libjpeg-1a2b.so.62", "libc.so.6"},
    f"_avif{SO}": {"libavif-3c4d.so.16"},
    "libavif-3c4d.so.16": {"libdav1d-5e6f.so.7"},
}


def fake_needed_libraries(monkeypatch) -> None:
    monkeypatch.setattr(post_build, "needed_libraries", lambda path: LINKS.get(path.name, set()))


def test_slim_removes_exactly_what_the_function_never_loads(tmp_path, monkeypatch):
    fake_needed_libraries(monkeypatch)
    monkeypatch.setattr(post_build.shutil, "which", lambda name: f"/usr/bin/{name}")
    site = make_tree(tmp_path / "site", {**KEPT, **TRIMMED})

    post_build.slim(site)

    assert tree(site) == set(KEPT)


# ---------------------------------------------------------------- what the app needs


def removed_module_patterns() -> list[str]:
    """The modules slim deletes, as fnmatch patterns of dotted names: each REMOVE_GLOBS
    entry under a package (not `**/...` file kinds), and the Powertools utilities it drops."""
    patterns = []
    for glob in post_build.REMOVE_GLOBS:
        if glob.startswith("**/") or glob.endswith((".c", ".h", ".a", ".pxd", ".pyi")):
            continue
        patterns.append(glob.removesuffix(".*").removesuffix(".py").replace("/", "."))
    utilities = "aws_lambda_powertools.utilities."
    kept = [utilities + name.removesuffix(".py") for name in post_build.POWERTOOLS_UTILITIES_KEPT]
    patterns.append(f"{utilities}*!{','.join(kept)}")  # every utility but the kept ones
    return patterns


TRIMMED_RUN = """
import fnmatch, json, sys
patterns = json.loads(sys.argv[1])

def removed(name):
    for pattern in patterns:
        pattern, _, kept = pattern.partition("!")
        if any(name == k or name.startswith(k + ".") for k in kept.split(",") if k):
            continue
        if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name, pattern + ".*"):
            return True
    return False

class Trimmed:  # as if post_build had deleted the files: the import fails
    def find_spec(self, name, path=None, target=None):
        if removed(name):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Trimmed())
import app
from tools.lambda_fakes import LambdaContext
for name in sys.argv[2:]:
    answer = app.handler(json.load(open(name)), LambdaContext())
    print("RESULT", name, answer["statusCode"], json.dumps(answer["body"]))
"""


def test_the_app_answers_every_input_kind_without_what_slim_removes(tmp_path):
    """The sample events are a see-through canvas and pixels; an opaque drawing, a JPEG, WebP
    or GIF, or a photo of a page takes other code (np.median of floats asks for numpy.ma: a
    removed module was a 500 on every photo)."""
    from infra_helpers import image_kind_events

    from tools.paths import EVENTS_DIR, FUNCTION_DIR, ROOT

    drawn = image_kind_events(tmp_path)
    events = sorted(EVENTS_DIR.glob("v2-*.json")) + drawn
    path = os.pathsep.join([str(FUNCTION_DIR), str(ROOT / "layers" / "model" / "python")])
    env = {**os.environ, "PYTHONPATH": path, "POWERTOOLS_METRICS_DISABLED": "true",
           "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "CRITICAL"}
    done = subprocess.run([sys.executable, "-c", TRIMMED_RUN,
                           json.dumps(removed_module_patterns()), *map(str, events)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line.split(" ", 3)[1:] for line in done.stdout.splitlines()
             if line.startswith("RESULT ")]
    results = {name: (int(status), json.loads(body)) for name, status, body in lines}
    assert set(results) == set(map(str, events))
    for name, (status, body) in results.items():
        assert status < 500, (name, body[:2000])
    for event in drawn:
        status, body = results[str(event)]
        predictions = json.loads(body).get("predictions") or [json.loads(body)]
        assert [p["digit"] for p in predictions] == [7] * len(predictions), (event.name, body)


# ---------------------------------------------------------------- unreachable_libraries


def test_a_library_needed_only_through_another_is_still_reachable(tmp_path, monkeypatch):
    links = {"mod.so": {"liba.so", "libc.so.6"}, "liba.so": {"libb.so"},
             "libb.so": {"liba.so"}, "libz.so": {"liby.so"}}  # a cycle, and an orphan chain
    monkeypatch.setattr(post_build, "needed_libraries", lambda path: links.get(path.name, set()))
    bundled = {name: tmp_path / name for name in ("liba.so", "libb.so", "liby.so", "libz.so")}

    unreachable = post_build.unreachable_libraries([tmp_path / "mod.so"], bundled)

    assert unreachable == [tmp_path / "liby.so", tmp_path / "libz.so"]


# ---------------------------------------------------------------- strip_binaries


@pytest.fixture
def fake_strip(tmp_path, monkeypatch):
    """A library and a strip tool that rewrites it (exit code `strip.exit`), with the
    loader's view of the library before and after given by the test."""
    library = tmp_path / "site" / "lib.so"
    library.parent.mkdir()
    library.write_bytes(b"original library")
    tool = tmp_path / "strip"
    tool.write_text('#!/bin/sh\nfor f; do :; done\nprintf stripped > "$f"\nexit "$STRIP_EXIT"\n')
    tool.chmod(0o755)
    monkeypatch.setattr(post_build.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(post_build, "elf_machine", lambda path: "x86_64")
    monkeypatch.setattr(post_build, "strip_tool", lambda machine: str(tool))
    monkeypatch.setenv("STRIP_EXIT", "0")
    views = {b"original library": ["LOAD r-x"]}
    monkeypatch.setattr(post_build, "loader_view", lambda path: views[path.read_bytes()])
    return library, views, monkeypatch


def test_a_strip_that_leaves_what_the_loader_reads_alone_is_kept(fake_strip, capsys):
    library, views, _ = fake_strip
    views[b"stripped"] = ["LOAD r-x"]
    post_build.strip_binaries(library.parent)
    assert library.read_bytes() == b"stripped"
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(("after", "exit_code"), [(["LOAD rwx"], "0"), (["LOAD r-x"], "1")],
                         ids=["loader-view-changed", "strip-failed"])
def test_a_strip_that_changes_what_the_loader_reads_is_undone(fake_strip, capsys, after,
                                                              exit_code):
    library, views, monkeypatch = fake_strip
    views[b"stripped"] = after
    monkeypatch.setenv("STRIP_EXIT", exit_code)
    post_build.strip_binaries(library.parent)
    assert library.read_bytes() == b"original library"
    assert "left lib.so unstripped" in capsys.readouterr().err


# ---------------------------------------------------------------- to_bytecode_only

INSTALLED = {
    "plain/__init__.py": "VALUE = 42\n",
    "plain/sub.py": "from . import VALUE\nDOUBLE = 2 * VALUE\n",
    "plain-1.0.dist-info/RECORD": record(
        "plain/__init__.py", "plain/sub.py", "plain-1.0.dist-info/RECORD", "../../bin/plain"),
    "anyio/__init__.py": "NAME = 'anyio'\n",
    "anyio/_core.py": "X = 1\n",
    "anyio/abc/__init__.py": "Y = 2\n",
    "anyio/abc/_resources.py": "Z = 3\n",
    "anyio-4.6.0.dist-info/RECORD": record(
        "anyio/__init__.py", "anyio/_core.py", "anyio/abc/__init__.py", "anyio/abc/_resources.py"),
    # reviewed: its source reading is about the app's code, not its own
    "pydantic/main.py": "import inspect\nREAD = inspect.getsource\n",
    "pydantic-2.9.0.dist-info/RECORD": record("pydantic/main.py"),
    # not reviewed, and reads source: keeps every source
    "reader/__init__.py": "import inspect\ndef me():\n    return inspect.getsource(me)\n",
    "reader/util.py": "U = 1\n",
    "reader-0.1.dist-info/RECORD": record("reader/__init__.py", "reader/util.py"),
    "app.py": "print('the app keeps its source')\n",  # in no RECORD
}
BYTECODE_ONLY = {
    "plain/__init__.pyc", "plain/sub.pyc", "plain-1.0.dist-info/RECORD",
    "anyio/__init__.py", "anyio/_core.pyc", "anyio/abc/__init__.py", "anyio/abc/_resources.pyc",
    "anyio-4.6.0.dist-info/RECORD",
    "pydantic/main.pyc", "pydantic-2.9.0.dist-info/RECORD",
    "reader/__init__.py", "reader/util.py", "reader-0.1.dist-info/RECORD",
    "app.py",
}


def test_bytecode_replaces_sources_except_those_read_at_run_time(tmp_path,
                                                                 runtime_is_this_python):
    site = make_tree(tmp_path / "site", INSTALLED)
    post_build.to_bytecode_only(site)
    assert tree(site) == BYTECODE_ONLY


def test_bytecode_only_packages_import_in_a_bare_interpreter(tmp_path, runtime_is_this_python):
    site = make_tree(tmp_path / "site", INSTALLED)
    post_build.to_bytecode_only(site)
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import plain.sub, anyio.abc; "
              "print(plain.sub.DOUBLE, plain.sub.__file__.endswith('.pyc'), anyio.abc.Y)")
    done = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", script, str(site)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["84", "True", "2"]


def test_bytecode_is_unchecked_and_the_same_wherever_it_is_built(tmp_path,
                                                                  runtime_is_this_python):
    """Zip archives round mtimes (so no timestamp check), and equal bytes let `sam deploy`
    skip an unchanged layer (so no absolute paths in them)."""
    here = make_tree(tmp_path / "site", INSTALLED)
    there = make_tree(tmp_path / "elsewhere" / "python", INSTALLED)
    for site in (here, there):
        post_build.to_bytecode_only(site)
    pycs = sorted(name for name in tree(here) if name.endswith(".pyc"))
    assert pycs
    for name in pycs:
        data = (here / name).read_bytes()
        assert int.from_bytes(data[4:8], "little") == 0b01, name  # hash-based, unchecked
        assert data == (there / name).read_bytes(), name


def test_bytecode_for_another_python_is_never_written(tmp_path, monkeypatch, capsys):
    """The runtime would reject it and, the sources gone, fail to import."""
    monkeypatch.setattr(post_build, "RUNTIME_PYTHON", (3, 0))
    site = make_tree(tmp_path / "site", INSTALLED)
    post_build.to_bytecode_only(site)
    assert tree(site) == set(INSTALLED)
    assert "not compiling" in capsys.readouterr().err


# ---------------------------------------------------------------- precompile


def test_precompile_stops_on_a_file_that_does_not_compile(tmp_path, runtime_is_this_python):
    (tmp_path / "good.py").write_text("x = 1\n")
    assert post_build.precompile([tmp_path]) is True
    assert list(tmp_path.rglob("good*.pyc"))
    (tmp_path / "bad.py").write_text("def broken(:\n")
    with pytest.raises(RuntimeError, match="do not compile"):
        post_build.precompile([tmp_path])


def test_finish_precompiles_the_model_layers_code_and_keeps_its_sources(tmp_path,
                                                                        runtime_is_this_python):
    """digitnet is imported at every cold start from the model layer, whose /opt is
    read-only: without its bytecode each cold start compiles it again."""
    build = make_tree(tmp_path / "build", {
        "PredictFunction/app.py": "import digitnet\n",
        f"{post_build.DEPS_LAYER}/python/plain/__init__.py": "X = 1\n",
        "ModelLayer/python/digitnet/__init__.py": "from .network import Y\n",
        "ModelLayer/python/digitnet/network.py": "Y = 2\n",
        "ModelLayer/model/weights.json": "{}",
    })
    post_build.finish(build)
    layer = build / "ModelLayer" / "python" / "digitnet"
    assert {"__init__.py", "network.py"} <= tree(layer)  # digitnet keeps its sources
    for module in ("__init__", "network"):
        (pyc,) = (layer / "__pycache__").glob(f"{module}.cpython-*.pyc")
        assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01  # unchecked hash
    assert list((build / "PredictFunction" / "__pycache__").glob("app.cpython-*.pyc"))


def test_make_build_finishes_the_folder_sam_build_writes(monkeypatch, tmp_path, capsys):
    """`make build` runs `python -m tools.post_build` with no folder after a plain
    `sam build`, which writes .aws-sam/build: any other default leaves the deployable
    build unfinished (slower cold starts, its CPU not pinned)."""
    finished = []
    monkeypatch.setattr(post_build, "finish", lambda build_dir: finished.append(build_dir) or 0)
    monkeypatch.chdir(tmp_path)  # a relative default would be relative to here
    try:
        post_build.main([])
    except SystemExit:  # no build there: the error names the folder looked in
        assert f"no built predict function in {post_build.SAM_BUILD_DIR} " in (
            capsys.readouterr().err)
    else:
        assert finished == [post_build.SAM_BUILD_DIR]
    root = Path(__file__).parents[1]
    assert root / ".aws-sam" / "build" == post_build.SAM_BUILD_DIR
    build = "\t$(BIN)/sam build $(if $(CONTAINER),--use-container)\n\t$(PY) -m tools.post_build\n"
    assert build in (root / "Makefile").read_text()


# ---------------------------------------------------------------- architecture pin


def fake_build(root: Path, machine: int | None) -> Path:
    """A build folder: the repository's template as `sam build` writes it (long-form
    intrinsics), and NumPy's core extension with an ELF header for `machine`."""
    from samcli.yamlhelper import yaml_dump, yaml_parse

    (root / "template.yaml").write_text(yaml_dump(yaml_parse(
        (Path(__file__).parents[1] / "template.yaml").read_text())))
    if machine is not None:
        core = root / post_build.DEPS_LAYER / "python" / "numpy" / "_core"
        core.mkdir(parents=True)
        header = b"\x7fELF" + bytes(14) + machine.to_bytes(2, "little") + bytes(44)
        (core / f"_multiarray_umath{SO}").write_bytes(header)
    return root


@pytest.mark.parametrize(("machine", "pinned"), [(62, "x86_64"), (183, "arm64")])
def test_the_built_template_takes_only_the_built_architecture(tmp_path, machine, pinned):
    """sam deploy may read another Architecture than sam build did (guided saves its own):
    x86_64 NumPy in an arm64 function fails every request, so the mismatch must not deploy."""
    from samcli.yamlhelper import yaml_parse

    build = fake_build(tmp_path, machine)
    before = yaml_parse((build / "template.yaml").read_text())
    assert post_build.pin_architecture(build) == pinned
    after = yaml_parse((build / "template.yaml").read_text())
    parameter = after["Parameters"].pop("Architecture")
    assert parameter["AllowedValues"] == [pinned]
    assert parameter["Default"] == pinned
    assert pinned in parameter["ConstraintDescription"]
    before["Parameters"].pop("Architecture")
    assert after == before  # nothing else changes


def test_a_build_without_numpy_is_left_as_it_is(tmp_path):
    build = fake_build(tmp_path, None)
    text = (build / "template.yaml").read_text()
    assert post_build.pin_architecture(build) is None
    assert (build / "template.yaml").read_text() == text
