"""`make build` in Python: `sam build`, then tools.post_build, into a folder of one's
choosing (the bench's and the infrastructure tests' builds), and the environment sam
needs to run from this venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools.paths import ROOT

BIN = Path(sys.executable).parent  # the venv's: sam, and the runtime's python3.12 sam runs


def read_template(path: Path) -> dict[str, Any]:
    """A CloudFormation template as sam reads it (`!Ref X` -> {"Ref": "X"}, ...)."""
    from samcli.yamlhelper import yaml_parse

    return yaml_parse(path.read_text())


# Settings the app reads: sam local would hand this process's values (set by tests'
# helpers, for one) to the container over the template's own.
APP_SETTINGS = ("MODEL_DIR", "CORS_ALLOW_ORIGINS", "API_ROOT_PATH", "LOG_LEVEL")  # and POWERTOOLS_*


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


def make_build(build_dir: Path, *, architecture: str = "x86_64") -> int:
    """What `make build` does, into a fresh `build_dir`: `sam build`, then
    `tools.post_build`. For x86_64 unless told otherwise, when the template lets us
    choose: the tests run the built function on this x86_64 machine (`make build`
    itself builds samconfig.toml's arm64).

    Uncached: a cached sam build prunes from sam's cache, and from .aws-sam/deps whatever
    its cache dir, every build it does not know (another CPU's, `make build`'s own).

    Returns the bytes post_build trimmed.
    """
    from tools.post_build import finish

    shutil.rmtree(build_dir, ignore_errors=True)
    source = read_template(ROOT / "template.yaml")
    cmd = [str(BIN / "sam"), "build", "--build-dir", str(build_dir), "--no-cached"]
    if "Architecture" in (source.get("Parameters") or {}):
        cmd += ["--parameter-overrides", f"Architecture={architecture}"]
    done = subprocess.run(cmd, cwd=ROOT, env=sam_env(), capture_output=True, text=True,
                          check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"sam build failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return finish(build_dir)
