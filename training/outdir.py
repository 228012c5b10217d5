"""The training run's --out: checked before any data is read, written all at once.

A model already there is kept unless --overwrite; the new one moves in only when every
file is written, the manifest last.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from digitnet.modelfile import MANIFEST_FILE, WEIGHTS_FILE, ModelFileError, read_manifest


class OutError(Exception):
    """--out cannot take the new model, or holds one that --overwrite did not release."""


def describe_model(directory: Path) -> str:
    """'digitnet-cnn cnn-e20-s1, weights sha256 1290750b1ff3…', from its manifest."""
    if not (directory / MANIFEST_FILE).exists():
        return f"{WEIGHTS_FILE} without {MANIFEST_FILE}"
    try:
        m = read_manifest(directory)
        return f"{m['name']} {m['version']}, weights sha256 {m['weights_sha256'][:12]}…"
    except (ModelFileError, OSError, KeyError, TypeError) as exc:
        return f"unreadable {MANIFEST_FILE}: {exc}"


def check_out(out: Path, overwrite: bool) -> str | None:
    """Before any data is loaded: refuse an --out the model cannot be written to, or one
    holding a model unless `overwrite`. Return what will be replaced, if anything."""
    if out.is_symlink() and not out.exists():
        raise OutError(f"--out {out} is a broken symbolic link")
    if out.exists() and not out.is_dir():
        raise OutError(f"--out {out} is a file, not a model directory")
    existing = next(p for p in (out, *out.parents) if p.exists())  # '.' or '/' at worst
    if not existing.is_dir():
        raise OutError(f"--out {out}: {existing} is a file, not a directory")
    try:  # what write_when_complete will do first, in the folder it will do it in
        os.rmdir(tempfile.mkdtemp(prefix=".partial-", dir=existing))
    except OSError as exc:
        raise OutError(f"--out {out}: cannot write in {existing} ({exc.strerror or exc})") from None
    if not any((out / name).exists() for name in (MANIFEST_FILE, WEIGHTS_FILE)):
        return None
    held = describe_model(out)
    if not overwrite:
        raise OutError(f"--out {out} already holds a model ({held}); pass --overwrite to "
                       "replace it")
    return held


def write_when_complete(out: Path, write: Callable[[Path], None],
                        on_moved: Callable[[], None] | None = None,
                        last: str = MANIFEST_FILE) -> None:
    """Have `write` fill a scratch folder inside `out`, then move its files up, the manifest
    (`last`) last: a run that fails or is stopped while writing (the card's plots take
    seconds) leaves the previous model whole, not new weights beside an old manifest.
    Inside, the moves stay on one file system (`out` may be a link or a mount) and need no
    more than write access to `out`; the layer build skips dot-folders. A Ctrl-C during
    the moves waits for them (and `on_moved`, told the model is in); folders made here for
    a model that never came are removed."""
    made = missing_folders(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix=".partial-", dir=out) as tmp:
            write(Path(tmp))
            with _interrupt_deferred():
                for path in sorted(Path(tmp).iterdir(), key=lambda p: p.name == last):
                    os.replace(path, out / path.name)
                if on_moved is not None:
                    on_moved()
    except BaseException:
        remove_empty(made)
        raise


def missing_folders(out: Path) -> list[Path]:
    """`out` and the parents it lacks, deepest first: the folders writing it would make."""
    made, folder = [], out
    while not os.path.lexists(folder):
        made.append(folder)
        folder = folder.parent
    return made


def remove_empty(folders: list[Path]) -> None:
    """Remove these folders (`missing_folders`) that are empty: made for a model that never came."""
    for folder in folders:
        with contextlib.suppress(OSError):  # not empty: the model did come
            folder.rmdir()


@contextlib.contextmanager
def _interrupt_deferred() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) until the block is done, then raise it."""
    caught: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    except ValueError:  # not the main thread, which is the one Ctrl-C interrupts
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
