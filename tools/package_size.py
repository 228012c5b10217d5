"""Sizes of what `sam build` produced: each function and layer, unzipped and zipped.

Lambda limits function plus layers to 250 MB unzipped; the zipped size is what
is uploaded and what a cold start has to fetch. Zips are written to a temporary
file with the same compression `sam` uses (deflate), then measured.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / ".aws-sam" / "build"
MB = 1_000_000  # decimal megabytes, as AWS states its limits


@dataclass(frozen=True)
class PackageSize:
    name: str
    kind: str  # "function" or "layer"
    unzipped_bytes: int
    zipped_bytes: int
    files: int


class _AnyTagLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML (`!Ref`, `!GetAtt`, ...) as plain data."""


_AnyTagLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def built_resources(build_dir: Path = BUILD_DIR) -> dict[str, str]:
    """Logical id -> "function" / "layer" for every resource `sam build` built."""
    template = yaml.load((build_dir / "template.yaml").read_text(), Loader=_AnyTagLoader)
    kinds = {
        "AWS::Serverless::Function": "function",
        "AWS::Lambda::Function": "function",
        "AWS::Serverless::LayerVersion": "layer",
        "AWS::Lambda::LayerVersion": "layer",
    }
    return {
        name: kinds[res["Type"]]
        for name, res in (template.get("Resources") or {}).items()
        if res.get("Type") in kinds and (build_dir / name).is_dir()
    }


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


def ensure_built(build_dir: Path = BUILD_DIR, *, root: Path = ROOT) -> None:
    """Run `sam build` (x86_64 when the template lets us choose) unless its output exists."""
    if (build_dir / "template.yaml").exists():
        return
    cmd = [str(Path(sys.executable).with_name("sam")), "build"]
    source = yaml.load((root / "template.yaml").read_text(), Loader=_AnyTagLoader)
    if "Architecture" in (source.get("Parameters") or {}):
        cmd += ["--parameter-overrides", "Architecture=x86_64"]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
    }
    subprocess.run(cmd, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR)
    args = parser.parse_args(argv)
    ensure_built(args.build_dir)
    sizes = measure_build(args.build_dir)
    for s in sizes:
        print(f"{s.kind:8} {s.name:30} {s.unzipped_bytes / MB:8.1f} MB unzipped "
              f"{s.zipped_bytes / MB:8.1f} MB zipped {s.files:6} files")
    total = sum(s.unzipped_bytes for s in sizes)
    print(f"{'total':39} {total / MB:8.1f} MB unzipped (Lambda limit 250 MB)")


if __name__ == "__main__":
    main()
