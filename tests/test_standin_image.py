"""tools/standin_image.py fails fast and says why when Docker is not there to take the image."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools import standin_image
from tools.paths import ROOT

NO_DAEMON = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."


def fake_docker(tmp_path: Path) -> Path:
    """A docker CLI with no daemon behind it: every command fails at once, reading nothing."""
    script = tmp_path / "docker"
    script.write_text(f"#!/bin/sh\necho '{NO_DAEMON}' >&2\nexit 1\n")
    script.chmod(0o755)
    return script


def test_docker_import_fails_when_docker_stops_reading(tmp_path):
    """tar's output outgrows the pipe: with nobody reading it, tar must not wait for ever."""
    root = tmp_path / "rootfs"
    root.mkdir()
    (root / "big").write_bytes(b"\0" * 4_000_000)
    script = (f"from pathlib import Path\nfrom tools.standin_image import docker_import\n"
              f"docker_import(Path({str(root)!r}), 'tag', {str(fake_docker(tmp_path))!r})\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert "docker import failed" in done.stderr
    assert NO_DAEMON in done.stderr


def test_no_daemon_is_said_before_the_tree_is_built(tmp_path, monkeypatch, capsys):
    def build_rootfs(*args: object) -> None:
        raise AssertionError("built a ~200 MB tree for a docker that cannot take it")

    monkeypatch.setattr(standin_image, "build_rootfs", build_rootfs)
    with pytest.raises(SystemExit) as exit_:
        standin_image.main(["--docker", str(fake_docker(tmp_path))])
    message = str(exit_.value.code)
    assert message.startswith("error: no Docker daemon answers")
    assert NO_DAEMON in message
    assert "DOCKER_HOST" in message
