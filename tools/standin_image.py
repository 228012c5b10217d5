"""Build an offline stand-in for the python3.12 Lambda image, for `sam local --invoke-image`.

The public Lambda base images cannot be pulled here, so this packs one from
what the machine has: this interpreter's base Python (same version as the
runtime) with its standard library in /var/lang, the shared libraries that
`ldd` finds for it and for the built function's extension modules (libstdc++
and libgcc_s included), `sh` and the few coreutils SAM's layer Dockerfile
runs, and in /var/runtime the runtime interface client (`awslambdaric`, pinned in
requirements-dev.txt) with a `bootstrap` that starts it, plus boto3, botocore
and their dependencies as the real runtime ships them (the versions in this
venv): tools/post_build.py leaves them out of the function.
`docker import` turns the tree into an image; SAM mounts its own runtime
emulator and the code on top. Users with internet use
the official image and never need this.

    python -m tools.standin_image [--tag TAG] [--scan .aws-sam/build-local]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tools.post_build import RUNTIME_PROVIDED

RUNTIME_DISTS = ("awslambdaric", "simplejson", "snapshot-restore-py")
# What the Lambda Python runtime itself has in /var/runtime besides its client: what
# post_build leaves out of the function, and jmespath (which the function keeps).
LAMBDA_RUNTIME_PROVIDES = (*RUNTIME_PROVIDED, "jmespath")
# Parts of the standard library no Lambda function imports; the test suite alone is 127 MB.
STDLIB_SKIP = ("test", "site-packages", "idlelib", "tkinter", "turtledemo", "ensurepip",
               "lib2to3", "config-*", "__pycache__")
BOOTSTRAP = """#!/bin/sh
# What the runtime emulator starts: the runtime interface client, on the handler.
export PYTHONPATH=/var/runtime:/var/task:/opt/python${PYTHONPATH:+:$PYTHONPATH}
exec /var/lang/bin/python3 -m awslambdaric "$_HANDLER"
"""
IMAGE_ENV = {
    "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin:/bin",
    "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib"
                       ":/var/task:/var/task/lib:/opt/lib",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
}
# SAM's Dockerfile that adds the emulator and the layers RUNs these.
SHELL_TOOLS = ("sh", "mv", "chmod", "cp", "rm")
LDD_PATH = re.compile(r"(/\S+)")


def shared_libraries(binaries: Iterable[Path]) -> set[Path]:
    """System libraries the binaries load (those bundled beside a wheel are left out)."""
    found: set[Path] = set()
    for binary in binaries:
        out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if "not found" in line:
                continue
            match = LDD_PATH.search(line.split("=>")[-1])
            if match and not match.group(1).startswith(str(binary.parent.parent)):
                found.add(Path(match.group(1)))
    return found


def copy_file(path: Path, root: Path, dest: Path | None = None) -> None:
    """Copy path (and the target of a symlink) to the same place under root."""
    target = root / (dest or path).relative_to("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path.resolve(), target)


def copy_python(root: Path) -> list[Path]:
    """The base interpreter and its standard library into /var/lang; returns its binaries."""
    prefix = Path(sys.base_prefix)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    lang = root / "var" / "lang"
    (lang / "bin").mkdir(parents=True)
    (lang / "lib").mkdir()
    shutil.copy2(Path(prefix, "bin", version).resolve(), lang / "bin" / version)
    for alias in ("python3", "python"):
        (lang / "bin" / alias).symlink_to(version)
    libdir = Path(sysconfig.get_config_var("LIBDIR") or prefix / "lib")
    for lib in libdir.glob("libpython3*.so*"):  # a shared-library build needs it at run time
        shutil.copy2(lib.resolve(), lang / "lib" / lib.name)
    shutil.copytree(prefix / "lib" / version, lang / "lib" / version,
                    ignore=shutil.ignore_patterns(*STDLIB_SKIP), symlinks=True)
    return [lang / "bin" / version, *sorted((lang / "lib" / version).rglob("*.so"))]


def copy_distributions(names: Iterable[str], target_dir: Path) -> list[Path]:
    """Installed distributions (as in this venv) into target_dir; returns the files copied."""
    copied: list[Path] = []
    for name in names:
        dist = importlib.metadata.distribution(name)
        for file in dist.files or []:
            source = Path(dist.locate_file(file))
            if source.is_file() and "__pycache__" not in file.parts and ".." not in file.parts:
                target = target_dir / file
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
                copied.append(target)
    return copied


def copy_runtime_client(root: Path) -> list[Path]:
    """awslambdaric and what the runtime provides, as installed in this venv, into /var/runtime."""
    runtime = root / "var" / "runtime"
    copied = copy_distributions(RUNTIME_DISTS + LAMBDA_RUNTIME_PROVIDES, runtime)
    (runtime / "bootstrap").write_text(BOOTSTRAP)
    (runtime / "bootstrap").chmod(0o755)
    return [p for p in copied if p.suffix == ".so"]


def build_rootfs(root: Path, scan: Iterable[Path]) -> None:
    binaries = copy_python(root) + copy_runtime_client(root)
    for tool in SHELL_TOOLS:
        source = Path(shutil.which(tool) or f"/bin/{tool}").resolve()
        copy_file(source, root, Path("/bin", tool))
        binaries.append(source)
    for folder in scan:
        binaries += [p for p in folder.rglob("*.so*") if p.is_file()]
    for lib in shared_libraries(binaries):
        copy_file(lib, root)
    for folder in ("tmp", "var/task", "opt", "etc"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)


def docker_import(root: Path, tag: str, docker: str = "docker",
                  env: dict[str, str] | None = None) -> None:
    changes = [f"ENV {key}={value}" for key, value in IMAGE_ENV.items()]
    changes += ["WORKDIR /var/task", 'ENTRYPOINT ["/var/runtime/bootstrap"]']
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    args = [docker, "import", *(a for c in changes for a in ("--change", c)), "-", tag]
    try:
        done = subprocess.run(args, stdin=tar.stdout, capture_output=True, text=True, env=env)
    finally:
        # A docker that stopped reading would leave tar blocked on a full pipe for ever;
        # with no reader left, its next write fails and it exits.
        tar.stdout.close()  # type: ignore[union-attr]
        tar.wait()
    if done.returncode != 0:
        raise RuntimeError(f"docker import failed: {done.stderr.strip()}")
    if tar.returncode != 0:
        raise RuntimeError(f"tar of {root} failed (exit {tar.returncode})")


def check_docker(docker: str = "docker", env: dict[str, str] | None = None) -> None:
    """Fail in a second, before the ~200 MB tree is built, when no daemon answers."""
    try:
        done = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"],
                              capture_output=True, text=True, env=env, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"cannot run `{docker} info`: {exc}") from exc
    if done.returncode != 0:
        raise RuntimeError(
            f"no Docker daemon answers `{docker} info` ({done.stderr.strip()}): start one "
            "(systemctl start docker, or sudo dockerd &) or point DOCKER_HOST at one")


def build_image(tag: str, scan: Iterable[Path] = (), docker: str = "docker",
                env: dict[str, str] | None = None) -> str:
    """Build the stand-in image (env: for the docker CLI, e.g. DOCKER_HOST); returns its tag."""
    check_docker(docker, env)
    with tempfile.TemporaryDirectory(prefix="lambda-rootfs-") as tmp:
        build_rootfs(Path(tmp), scan)
        docker_import(Path(tmp), tag, docker, env)
    return tag


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.standin_image",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="digits-lambda:python3.12-standin")
    parser.add_argument("--scan", type=Path, action="append", default=[],
                        help="folder of built code whose .so files need system libraries")
    parser.add_argument("--docker", default=os.environ.get("DOCKER", "docker"))
    args = parser.parse_args(argv)
    try:
        print(build_image(args.tag, args.scan, args.docker))
    except RuntimeError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
