"""Finish `sam build`'s predict function and its layers: trim unused files, precompile.

Run by `make build` after `sam build`; `sam deploy` then uploads the result (a
plain `sam build && sam deploy` works too, with slower cold starts). The
tests run the finished function in-process on every sample event (each route but
HEAD /health), and under `sam local` on /health, GET and HEAD, and /predict.

Precompiling: Lambda's /var/task is read-only, so without shipped bytecode
every cold start compiles each imported module again. Bytecode is written for
the runtime's Python (3.12) with unchecked hashes, because zip archives keep
timestamps only to 2 s and timestamp-checked .pyc files would be ignored.
File names in the bytecode are relative to the build folder, so the same
sources give the same bytes wherever they are built and `sam deploy` skips
uploading (and versioning) an unchanged layer.
Measured here (read-only copy, bare interpreter): the app's import at cold
start takes 0.45-1.0 s precompiled against 1.4-2.3 s without.

Trimming removes only what is provably unused (the tests run the trimmed build
as said above):

- stale caches, type stubs and C headers (`__pycache__`, `*.pyi`, `numpy/_core/include`);
- what the Lambda Python runtime already provides in /var/runtime: botocore,
  boto3, s3transfer, and python-dateutil, six and urllib3, which only botocore,
  X-Ray's urllib3 patch and the Powertools utilities dropped below import;
  botocore came in through aws-xray-sdk for the Powertools Tracer (25 MB of the ~26).
  jmespath stays: the Powertools Logger imports it;
- NumPy's test suites and test-only extension modules (`numpy/**/tests`,
  `_core/_simd`, `_core/_*_tests`), and `f2py`, `testing`, `typing`,
  `_pyinstaller`, `doc`, `fft`, `polynomial`: NumPy loads these only when asked
  by name (`numpy.__getattr__`); neither digitnet nor the app asks, and inside
  NumPy only docstring examples do. `ma` stays: NumPy asks for it itself
  (`np.median` of floats, `np.unique`, `np.nanmedian`), and digitnet's photo
  and page code takes medians of floats (tests/test_post_build.py runs the app
  on every input kind with these modules missing);
- Powertools' `event_handler` and every `utilities` package but `jmespath_utils`
  and `typing`: Logger, Metrics and Tracer import no other (the one lazy import
  of `event_handler`, to log a Pydantic-model event, never runs: Lambda events
  are dicts);
- `pydantic/v1` (the Pydantic 1 compatibility copy): FastAPI imports it only
  inside `except ImportError` guards, to recognise v1 models this app has none of;
- Pillow's AVIF codec, font rendering, Tk bridge, colour management, ImageMath
  and ImageMorph engines (`_avif`, `_imagingft`, `_imagingtk`, `_imagingcms`,
  `_imagingmath`, `_imagingmorph`): digitnet decodes PNG/JPEG/WebP/GIF only and
  converts to RGB(A)/L, never to LAB (the one use of colour management), draws
  no text, has no Tk; then the bundled libraries (`pillow.libs`) no remaining
  module links;
- build-time files (C sources and headers, static libraries, Cython `.pxd`);
- symbol tables of the shared libraries (`strip --strip-unneeded`, with a strip
  that knows the files' CPU, else left as they are): each stripped file is
  checked to give the loader the same view (dynamic symbols, dynamic section,
  every allocated section at the same address with the same size), else the
  original is put back.

Dependencies ship as bytecode only (`module.pyc` in place of `module.py`): the
interpreter imports it the same way, and shipping both doubles the size.
Tracebacks into them keep file and line, without the line's text. Sources
that are read at run time stay: anyio builds its lazy imports from its two
`__init__` modules' source. A package that reads source anywhere else keeps
all of its sources unless its uses were read: FastAPI's and Pydantic's read the
app's own code (an endpoint's location, attribute docstrings), wrapt's and
NumPy's are text. The app's own modules and digitnet keep their sources.

The same rules apply wherever `sam build` installed the dependencies: the
function itself, or a dependencies layer's `python/` folder.

Last, the built template's `Architecture` parameter is pinned to the CPU the
dependencies were built for (NumPy's core module tells): `sam build` and
`sam deploy` can read different values (`sam deploy --guided` saves its own
copy in samconfig.toml's deploy section), and a deploy of x86_64 binaries as an
arm64 function succeeds and then fails every request importing NumPy. Pinned,
CloudFormation refuses the mismatch before changing the stack.

    python -m tools.post_build [.aws-sam/build]
"""

from __future__ import annotations

import argparse
import compileall
import platform
import py_compile
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from importlib.metadata import Distribution, distributions
from pathlib import Path

from tools.paths import SAM_BUILD_DIR

RUNTIME_PYTHON = (3, 12)  # the template's python3.12
DEPS_LAYER = "DepsLayer"
REMOVE_GLOBS = (
    "**/__pycache__", "**/*.pyi", "numpy/_core/include", "numpy/**/tests", "numpy/tests",
    "numpy/_core/_simd.*", "numpy/_core/_*_tests.*", "numpy/f2py", "numpy/testing",
    "numpy/typing", "numpy/_pyinstaller", "numpy/doc", "numpy/conftest.py",
    "numpy/fft", "numpy/polynomial", "pydantic/v1",
    "aws_lambda_powertools/event_handler",
    "PIL/_avif.*", "PIL/_imagingft.*", "PIL/_imagingtk.*", "PIL/_imagingcms.*",
    "PIL/_imagingmath.*", "PIL/_imagingmorph.*",
    "**/*.c", "**/*.h", "**/*.a", "**/*.pxd", "numpy/_core/lib", "numpy/random/lib",
)
# In the Lambda Python runtime's /var/runtime (python-dateutil and six only for botocore).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "python_dateutil", "six", "urllib3")
# Powertools utilities that Logger, Metrics and Tracer import (the rest is never imported).
POWERTOOLS_UTILITIES_KEPT = ("__init__.py", "jmespath_utils", "typing")
SOURCE_READING = re.compile(rb"\b(getsource\w*|findsource)\b")
# Packages whose mentions of source reading were read (see the module docstring).
SOURCE_READING_REVIEWED = ("fastapi", "pydantic", "wrapt", "numpy", "anyio")
SOURCE_READ_AT_RUN_TIME = ("anyio/__init__.py", "anyio/abc/__init__.py")
ELF_MACHINES = {62: "x86_64", 183: "aarch64"}  # e_machine values
LAMBDA_ARCHITECTURES = {"x86_64": "x86_64", "aarch64": "arm64"}  # ELF machine -> Lambda's name
NEEDED = re.compile(r"\(NEEDED\)\s+Shared library: \[(.+)\]")


def remove(path: Path) -> None:
    """Delete a file or folder (the bytes freed are counted once, by `finish`)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def needed_libraries(binary: Path) -> set[str]:
    out = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True).stdout
    return set(NEEDED.findall(out))


def unreachable_libraries(modules: Iterable[Path], bundled: dict[str, Path]) -> list[Path]:
    """Bundled libraries that no module needs, directly or through another library."""
    wanted: set[str] = set()
    todo = [name for m in modules for name in needed_libraries(m)]
    while todo:
        name = todo.pop()
        if name in bundled and name not in wanted:
            wanted.add(name)
            todo.extend(needed_libraries(bundled[name]))
    return [path for name, path in sorted(bundled.items()) if name not in wanted]


def installed(site_dir: Path, name: str | None = None) -> Iterable[Distribution]:
    """The distributions installed in `site_dir` (all, or the one named), whose `files` are
    their RECORDs as importlib.metadata reads them (CSV, quoted names included)."""
    return distributions(path=[str(site_dir)], name=name)


def distribution_paths(site_dir: Path, name: str) -> list[Path]:
    """The top-level files and folders an installed distribution wrote, its .dist-info too."""
    tops = {file.parts[0] for dist in installed(site_dir, name) for file in dist.files or ()}
    return sorted(site_dir / top for top in tops if top != "..")


def slim(function_dir: Path) -> None:
    """Apply the rules in the module docstring."""
    for name in RUNTIME_PROVIDED:
        for path in distribution_paths(function_dir, name):
            if path.exists():
                remove(path)
    unused_utilities = [path for path in function_dir.glob("aws_lambda_powertools/utilities/*")
                        if path.name not in POWERTOOLS_UTILITIES_KEPT]
    for pattern in REMOVE_GLOBS:
        for path in sorted(function_dir.glob(pattern), reverse=True):
            if path.exists():
                remove(path)
    for path in unused_utilities:
        if path.exists():
            remove(path)
    libs_dir = function_dir / "pillow.libs"
    if libs_dir.is_dir() and shutil.which("readelf"):
        modules = sorted((function_dir / "PIL").glob("*.so"))
        bundled = {p.name: p for p in libs_dir.iterdir()}
        for lib in unreachable_libraries(modules, bundled):
            remove(lib)


def elf_machine(path: Path) -> str | None:
    with path.open("rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    return ELF_MACHINES.get(int.from_bytes(header[18:20], "little"), "other")


def strip_tool(machine: str) -> str | None:
    """A strip that handles this CPU's ELF files: binutils' own for the host, else llvm's."""
    candidates = ["strip"] if machine == platform.machine() else []
    candidates += ["llvm-strip", f"{machine}-linux-gnu-strip"]
    return next((tool for tool in candidates if shutil.which(tool)), None)


def readelf(*args: str) -> str:
    return subprocess.run(["readelf", "-W", *args], capture_output=True, text=True,
                          check=True).stdout


def loader_view(path: Path) -> list[str]:
    """What the dynamic loader reads: dynamic symbols and section, allocated sections."""
    view = readelf("--dyn-syms", str(path)).splitlines()
    view += [line for line in readelf("-d", str(path)).splitlines()
             if not line.startswith("Dynamic section at offset")]
    sections = []
    for line in readelf("-S", str(path)).splitlines():
        fields = line.replace("[ ", "[").split()
        if len(fields) >= 8 and fields[0].startswith("[") and "A" in fields[7]:
            sections.append(" ".join(fields[1:4] + fields[5:6]))  # name type address size
    return view + sorted(sections)  # strip may reorder the section headers


def strip_binaries(site_dir: Path) -> None:
    """Drop the symbol tables of shared libraries."""
    if not shutil.which("readelf"):
        return
    for path in sorted(p for p in site_dir.rglob("*.so*") if p.is_file()):
        machine = elf_machine(path)
        tool = strip_tool(machine) if machine else None
        if tool is None:
            continue
        original, before = path.read_bytes(), loader_view(path)
        done = subprocess.run([tool, "--strip-unneeded", str(path)], capture_output=True)
        if done.returncode != 0 or loader_view(path) != before:
            print(f"post_build: left {path.name} unstripped ({tool} changed it)", file=sys.stderr)
            path.write_bytes(original)


def installed_sources(site_dir: Path) -> dict[str, list[Path]]:
    """Top-level name -> the .py files installed distributions put there."""
    found: dict[str, list[Path]] = {}
    for dist in installed(site_dir):
        for file in dist.files or ():
            path = site_dir / file
            if file.suffix == ".py" and ".." not in file.parts and path.is_file():
                found.setdefault(file.parts[0], []).append(path)
    return found


def reads_own_source(top: str, sources: Iterable[Path]) -> bool:
    return top not in SOURCE_READING_REVIEWED and any(
        SOURCE_READING.search(path.read_bytes()) for path in sources)


def to_bytecode_only(site_dir: Path) -> None:
    """Replace installed dependencies' sources by bytecode."""
    if not runtime_python():
        return
    for top, sources in sorted(installed_sources(site_dir).items()):
        if reads_own_source(top, sources):
            continue
        for source in sources:
            if source.relative_to(site_dir).as_posix() in SOURCE_READ_AT_RUN_TIME:
                continue
            py_compile.compile(
                str(source), cfile=str(source.with_suffix(".pyc")), doraise=True,
                dfile=source.relative_to(site_dir).as_posix(),
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
            remove(source)


def runtime_python() -> bool:
    if sys.version_info[:2] == RUNTIME_PYTHON:
        return True
    print(f"post_build: not compiling with Python {sys.version_info[:2]} "
          f"(the runtime is {RUNTIME_PYTHON})", file=sys.stderr)
    return False


def precompile(folders: Iterable[Path]) -> bool:
    """Write unchecked-hash bytecode beside the sources; only with the runtime's Python
    (False, with a message, otherwise). A file that does not compile stops the build:
    Lambda would fail importing it."""
    if not runtime_python():
        return False
    failed = [str(folder) for folder in folders if not compileall.compile_dir(
        folder, quiet=1, workers=0, stripdir=str(folder),
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )]
    if failed:
        raise RuntimeError(f"post_build: Python files that do not compile in {failed} "
                           "(errors above)")
    return True


def dependency_dirs(build_dir: Path) -> list[Path]:
    """Where `sam build` installed the predict function's dependencies."""
    return [d for d in (build_dir / "PredictFunction", build_dir / DEPS_LAYER / "python")
            if d.is_dir()]


def folder_bytes(folders: Iterable[Path]) -> int:
    return sum(p.stat().st_size for folder in folders for p in folder.rglob("*") if p.is_file())


def finish(build_dir: Path) -> int:
    """Trim and precompile the predict function, its dependencies and the model layer's code.

    Returns the net bytes removed (bytecode written included)."""
    folders = dependency_dirs(build_dir)
    everything = [*folders, build_dir / "ModelLayer" / "python"]
    before = folder_bytes(everything)
    for folder in folders:
        slim(folder)
        strip_binaries(folder)
        to_bytecode_only(folder)
    precompile(everything)
    pin_architecture(build_dir)
    return before - folder_bytes(everything)


def built_architecture(build_dir: Path) -> str | None:
    """The Lambda architecture of the built dependencies, from NumPy's core extension."""
    for folder in dependency_dirs(build_dir):
        for module in folder.glob("numpy/_core/_multiarray_umath*.so"):
            return LAMBDA_ARCHITECTURES.get(elf_machine(module) or "")
    return None


def pin_architecture(build_dir: Path) -> str | None:
    """Let the built template's Architecture parameter take only the CPU that was built."""
    from samcli.yamlhelper import yaml_dump  # sam's own writer (and reader: read_template)

    from tools.sam_build import read_template

    built = built_architecture(build_dir)
    path = build_dir / "template.yaml"
    if built is None or not path.is_file():
        return None
    template = read_template(path)
    parameter = template.get("Parameters", {}).get("Architecture")
    if parameter is None:
        return None
    parameter.update(AllowedValues=[built], Default=built, ConstraintDescription=(
        f"this build holds {built} binaries: deploy Architecture={built}, or build again "
        "with the other value (sam build --parameter-overrides Architecture=...)"))
    path.write_text(yaml_dump(template))
    return built


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.post_build",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", type=Path, nargs="?", default=SAM_BUILD_DIR)
    args = parser.parse_args(argv)
    if not (args.build_dir / "PredictFunction" / "app.py").is_file():
        parser.error(f"no built predict function in {args.build_dir} (run sam build)")
    freed = finish(args.build_dir)
    print(f"post_build: removed {freed / 1e6:.1f} MB and precompiled {args.build_dir}")


if __name__ == "__main__":
    main()
