"""Sizes of what `sam build` produced: each function and layer, unzipped and zipped.

Lambda limits function plus layers to 250 MB unzipped; the zipped size is what
is uploaded and what a cold start has to fetch. Zips are written to a temporary
file with the same compression `sam` uses (deflate), then measured.
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

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / ".aws-sam" / "build"
BENCH_BUILD_DIR = ROOT / "build" / "sam-bench"  # the bench's own fresh build
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


def built_resources(build_dir: Path = BUILD_DIR) -> dict[str, str]:
    """Logical id -> "function" / "layer" for every resource `sam build` built."""
    return {
        name: KINDS[res["Type"]]
        for name, res in _resources(build_dir).items()
        if res.get("Type") in KINDS and (build_dir / name).is_dir()
    }


def function_layers(build_dir: Path = BUILD_DIR) -> dict[str, list[str]]:
    """Function -> the built layers it references (`Ref`s), for the per-function limit."""
    resources = _resources(build_dir)
    built = built_resources(build_dir)
    return {
        name: [ref["Ref"] for ref in (resources[name].get("Properties") or {}).get("Layers") or []
               if isinstance(ref, dict) and built.get(ref.get("Ref")) == "layer"]
        for name, kind in built.items() if kind == "function"
    }


def deployed_bytes(sizes: list[PackageSize], build_dir: Path = BUILD_DIR) -> dict[str, int]:
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


def measure_build(build_dir: Path = BUILD_DIR) -> list[PackageSize]:
    return [
        measure_dir(build_dir / name, name, kind)
        for name, kind in sorted(built_resources(build_dir).items(), key=lambda kv: kv[::-1])
    ]


def make_build(build_dir: Path, *, root: Path = ROOT) -> int:
    """What `make build` does, into `build_dir`: `sam build`, then `tools.post_build`.

    Returns the bytes post_build trimmed. x86_64 when the template lets us choose.
    """
    from tools.post_build import finish

    shutil.rmtree(build_dir, ignore_errors=True)
    sam_build(build_dir, root=root)
    return finish(build_dir)


def sam_build(build_dir: Path, *, root: Path = ROOT) -> None:
    """`sam build` into `build_dir` (x86_64 when the template lets us choose), cached."""
    source = yaml.load((root / "template.yaml").read_text(), Loader=_AnyTagLoader)
    cmd = [str(Path(sys.executable).with_name("sam")), "build", "--build-dir", str(build_dir),
           "--cached", "--cache-dir", str(build_dir.with_name(build_dir.name + "-cache"))]
    if "Architecture" in (source.get("Parameters") or {}):
        cmd += ["--parameter-overrides", "Architecture=x86_64"]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
    }
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"sam build failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, help="an existing sam build (default: build now)")
    args = parser.parse_args(argv)
    if args.build_dir is None:
        args.build_dir = BENCH_BUILD_DIR
        freed = make_build(args.build_dir)
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
