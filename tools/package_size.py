"""Sizes of what `sam build` produced: each function and layer, unzipped and zipped.

Lambda limits function plus layers to 250 MB unzipped; the zipped size is what
is uploaded and what a cold start has to fetch. Zips are written to a temporary
file with the same compression `sam` uses (deflate), then measured.
`python -m tools.package_size` first builds as `make build` does (tools.sam_build).
"""

from __future__ import annotations

import argparse
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tools.paths import ROOT
from tools.sam_build import make_build, read_template

BENCH_BUILD_DIR = ROOT / "build" / "sam-bench"  # the bench's own fresh build
MB = 1_000_000  # decimal megabytes, as AWS states its limits


@dataclass(frozen=True)
class PackageSize:
    name: str
    kind: str  # "function" or "layer"
    unzipped_bytes: int
    zipped_bytes: int
    files: int


KINDS = {
    "AWS::Serverless::Function": "function",
    "AWS::Lambda::Function": "function",
    "AWS::Serverless::LayerVersion": "layer",
    "AWS::Lambda::LayerVersion": "layer",
}


def _resources(build_dir: Path) -> dict[str, dict]:
    template = read_template(build_dir / "template.yaml")
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.package_size",
                                     description=__doc__.splitlines()[0])
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
