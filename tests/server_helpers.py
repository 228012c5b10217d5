"""The local server (`make serve`'s `python -m tools.serve`) as a test fixture.

One process manager for tests and benchmarks: `tools.loadtest.local_server`
(output to a file, not an undrained pipe; SIGKILL if SIGTERM is ignored).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tools.loadtest import SERVE_COMMAND, free_port
from tools.loadtest import local_server as serve_command

__all__ = ["free_port", "local_server"]


@contextmanager
def local_server(env: dict[str, str] | None = None) -> Iterator[str]:
    """`python -m tools.serve` in a subprocess on a free port, ready once it listens;
    yields its URL.

    The server binds only after importing the app and loading the model, so
    listening means ready. A failed start raises with the server's output.
    """
    with tempfile.TemporaryDirectory(prefix="local-server-") as logs, serve_command(
        SERVE_COMMAND, env=env, log_path=Path(logs) / "server.log"
    ) as bound:
        yield f"http://127.0.0.1:{bound}"
