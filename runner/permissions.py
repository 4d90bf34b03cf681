"""File permissions: feed files, delivery state, run records and logs hold customer e-mails.

Everything feeds writes (including what DuckDB and dbt write for it) is created owner-only by
running each command under the umask 077: files 0600, folders 0700, whatever the caller's umask.
Files delivered to a local folder get an explicit, configurable mode instead (destination.file_mode).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

PRIVATE_UMASK = 0o077


@contextmanager
def private_umask() -> Iterator[None]:
    """Create every file and folder owner-only for the body (the umask is per process)."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def directory_mode(file_mode: int) -> int:
    """The mode of a folder holding files of `file_mode`: whoever may read them may also enter it."""
    return file_mode | ((file_mode & 0o444) >> 2)


def make_dirs(path: Path, mode: int) -> None:
    """Create `path` and its missing parents with exactly `mode` (the umask would narrow it)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=mode)
        except FileExistsError:
            continue  # created meanwhile by someone else: theirs to set
        os.chmod(folder, mode)
