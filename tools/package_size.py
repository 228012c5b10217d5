"""Sizes of what `sam build` produced: each function and layer, unzipped and zipped.

Lambda limits function plus layers to 250 MB unzipped; the zipped size is what
is uploaded and what a cold start has to fetch. Zips are written to a temporary
file with the same compression `sam` uses (deflate), then measured.
Also the build itself as `make build` makes it (`make_build`, with `sam_env`),
shared by the bench and the infrastructure tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools.paths import ROOT

BENCH_BUILD_DIR = ROOT / "build" / "sam-bench"  # the bench's own fresh build
BIN = Path(sys.executable).parent  # the venv's: sam, and the runtime's python3.12 sam runs
MB = 1_000_000  # decimal megabytes, as AWS states its limits


@dataclass(frozen=True)
class PackageSize:
    name: str
    kind: str  # "function" or "layer"
    unzipped_bytes: int
    zipped_bytes: int
    files: int


class _AnyTagLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML (`!Ref X` -> {"Ref": "X"}, `!GetAtt` ...) as plain data."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, object]:
    name = suffix if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


_AnyTagLoader.add_multi_constructor("!", _tag)
KINDS = {
    "AWS::Serverless::Function": "function",
    "AWS::Lambda::Function": "function",
    "AWS::Serverless::LayerVersion": "layer",
    "AWS::Lambda::LayerVersion": "layer",
}


def _resources(build_dir: Path) -> dict[str, dict]:
    template = yaml.load((build_dir / "template.yaml").read_text(), Loader=_AnyTagLoader)
    return template.get("Resources") or {}


def built_resources(build_dir: Path) -> dict[str, str]:
    """Logical id -> "function" / "layer" for every resource `sam build` built."""
    return _built(build_dir, _resources(build_dir))


def _built(build_dir: Path, resources: dict[str, dict]) -> dict[str, str]:
    return {name: KINDS[res["Type"]] for name, res in resources.items()
            if res.get("Type") in KINDS and (build_dir / name).is_dir()}


def function_layers(build_dir: Path) -> dict[str, list[str]]:
    """Function -> the built layers it references (`Ref`s), for the per-function limit."""
    resources = _resources(build_dir)
    built = _built(build_dir, resources)
    return {
        name: [ref["Ref"] for ref in (resources[name].get("Properties") or {}).get("Layers") or []
               if isinstance(ref, dict) and built.get(ref.get("Ref")) == "layer"]
        for name, kind in built.items() if kind == "function"
    }


def deployed_bytes(sizes: list[PackageSize], build_dir: Path) -> dict[str, int]:
    """Function -> unzipped bytes of it plus its layers: what Lambda's 250 MB limit counts."""
    by_name = {s.name: s.unzipped_bytes for s in sizes}
    return {fn: by_name[fn] + sum(by_name[layer] for layer in layers)
            for fn, layers in function_layers(build_dir).items()}


def measure_dir(path: Path, name: str, kind: str) -> PackageSize:
    files = sorted(p for p in path.rglob("*") if p.is_file())
    unzipped = sum(p.stat().st_size for p in files)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "package.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in files:
                zf.write(p, p.relative_to(path))
        zipped = target.stat().st_size
    return PackageSize(name, kind, unzipped, zipped, len(files))


def measure_build(build_dir: Path) -> list[PackageSize]:
    return [
        measure_dir(build_dir / name, name, kind)
        for name, kind in sorted(built_resources(build_dir).items(), key=lambda kv: kv[::-1])
    ]


# Settings the app reads: sam local would hand this process's values (set by tests'
# helpers, for one) to the container over the template's own.
APP_SETTINGS = ("MODEL_DIR", "CORS_ALLOW_ORIGINS", "API_ROOT_PATH", "LOG_LEVEL")


def sam_env(**extra: str) -> dict[str, str]:
    """sam needs the runtime's Python (the venv's python3.12) on PATH and a region;
    the app's own settings are left out (see APP_SETTINGS)."""
    inherited = {
        k: v for k, v in os.environ.items()
        if k not in APP_SETTINGS and not k.startswith("POWERTOOLS_")
    }
    return {
        **inherited,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        **extra,
    }


def make_build(build_dir: Path, *, cache_dir: Path | None = None) -> int:
    """What `make build` does, into a fresh `build_dir`: `sam build` (cached, in `cache_dir`
    or sam's default .aws-sam/cache), then `tools.post_build`. x86_64, this machine's CPU,
    when the template lets us choose, so the compiled wheels load here.

    Returns the bytes post_build trimmed.
    """
    from tools.post_build import finish

    shutil.rmtree(build_dir, ignore_errors=True)
    source = yaml.load((ROOT / "template.yaml").read_text(), Loader=_AnyTagLoader)
    cmd = [str(BIN / "sam"), "build", "--build-dir", str(build_dir), "--cached"]
    if cache_dir is not None:
        cmd += ["--cache-dir", str(cache_dir)]
    if "Architecture" in (source.get("Parameters") or {}):
        cmd += ["--parameter-overrides", "Architecture=x86_64"]
    done = subprocess.run(cmd, cwd=ROOT, env=sam_env(), capture_output=True, text=True,
                          check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"sam build failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return finish(build_dir)


def bench_build() -> int:
    """`make_build` into BENCH_BUILD_DIR, its cache beside it (apart from `make build`'s)."""
    return make_build(BENCH_BUILD_DIR, cache_dir=BENCH_BUILD_DIR.with_name("sam-bench-cache"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, help="an existing sam build (default: build now)")
    args = parser.parse_args(argv)
    if args.build_dir is None:
        args.build_dir = BENCH_BUILD_DIR
        freed = bench_build()
        print(f"sam build + tools.post_build into {args.build_dir}: "
              f"post_build removed {freed / MB:.1f} MB")
    sizes = measure_build(args.build_dir)
    for s in sizes:
        print(f"{s.kind:8} {s.name:30} {s.unzipped_bytes / MB:8.1f} MB unzipped "
              f"{s.zipped_bytes / MB:8.1f} MB zipped {s.files:6} files")
    for fn, total in deployed_bytes(sizes, args.build_dir).items():
        print(f"{fn + ' + its layers':39} {total / MB:8.1f} MB unzipped (Lambda limit 250 MB)")

if __name__ == "__main__":
    main()
