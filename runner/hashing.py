"""SHA-256 of files, read in chunks: the one place a file is hashed from disk (export, delivery
resumes, run records). Imports nothing of dbt or DuckDB, so delivery can use it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

CHUNK = 4 * 1024 * 1024


def hash_into(digest: Any, path: Path, limit: int | None = None) -> int:
    """Feed the file's bytes (only the first `limit`, if given) into `digest`; return how many."""
    size = 0
    with open(path, "rb") as source:
        while limit is None or size < limit:
            chunk = source.read(CHUNK if limit is None else min(CHUNK, limit - size))
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
    return size


def hash_file(path: Path) -> tuple[int, str]:
    """Size in bytes and SHA-256 of a file."""
    digest = hashlib.sha256()
    size = hash_into(digest, path)
    return size, digest.hexdigest()
