"""Writing files that a crash never leaves half-written, with the modes a user expects.

Every file tfbert writes (weights, vocabularies, training backups, exports) is written under a
temporary name in the target's directory and renamed onto the target in one step, so a reader
sees the old file or the new one, never a torn one. `tempfile.mkstemp` and `tempfile.mkdtemp`
create owner-only entries (0600 / 0700), which a rename would carry over to the final file: a
model served by another user, or copied into a container, could then not be read. The helpers
here give the final file or directory the mode a plain `open()` / `mkdir()` would have given it,
i.e. 0666 / 0777 minus the process umask (0644 / 0755 with the usual umask 022).

Use `atomic_write_text` / `atomic_write_bytes` for content at hand, `atomic_write` when a library
writes the file itself (it receives the temporary path), and `make_public` on a directory staged
with `tempfile.mkdtemp` before renaming it into place.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfbert.errors import DiskFullError

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "current_umask",
    "make_public",
    "public_mode",
]

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the platform allows."""
    try:  # Linux 4.7+: no window in which another thread could create a file with umask 0
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def public_mode(*, directory: bool = False) -> int:
    """The mode `open()` (0666) or `mkdir()` (0777) would give a new entry under the umask."""
    return (0o777 if directory else 0o666) & ~current_umask()


def make_public(path: str | Path) -> None:
    """Gives `path` (a file, or a directory itself, not its contents) the umask's usual mode.

    Call it on a temporary file or on a directory from `tempfile.mkdtemp` before renaming it
    into place; entries created inside such a directory already have the usual modes.
    """
    path = Path(path)
    os.chmod(path, public_mode(directory=stat.S_ISDIR(path.stat().st_mode)))


def atomic_write(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Calls `write(temporary_path)`, then moves the result onto `path` in one rename.

    The temporary file sits next to `path` and ends with its name (libraries that check the
    suffix, such as Keras for `.weights.h5`, accept it). A kill at any moment leaves either the
    old file or the new one; on an exception the temporary file is removed and `path` is
    untouched. The final file gets `public_mode()`. Returns `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix="-" + path.name)
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        make_public(temporary)
        os.replace(temporary, path)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise DiskFullError(
                f"The disk is full: {path} was not written (its previous version, if any, is "
                "kept and the partial file removed). Free some space and run again; training "
                "resumes from its last backup.",
            ) from None
        raise
    finally:
        temporary.unlink(missing_ok=True)
    fsync_directory(path.parent)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Writes `data` to `path` atomically (see `atomic_write`); returns `path`."""
    return atomic_write(path, lambda temporary: temporary.write_bytes(data))


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Writes `text` to `path` atomically (see `atomic_write`); returns `path`."""
    return atomic_write_bytes(path, text.encode(encoding))


def fsync_directory(directory: str | Path) -> None:
    """Makes a rename inside `directory` durable, where the platform supports it."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # not supported on this platform (Windows)
        return
    with contextlib.suppress(OSError):
        os.fsync(descriptor)
    os.close(descriptor)


def read_json_object(path: str | Path) -> dict[str, Any] | None:
    """The JSON object stored at `path`; None when the file is missing, unreadable, not JSON or
    not an object (for optional records a run may or may not have left)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
