"""Connections to the DuckDB file: opening it (read-write, see `connect`), the memory cap every
connection of a run shares, and the one mapping of DuckDB's failures to the runner's errors (a file
another process holds is exit 4). The file is opened per use and closed, so dbt and other tools can use it."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, TypeAlias

import duckdb

from runner.errors import ConfigError, ExportError, RunLocked
from runner.warehouse.sql import literal

#: DuckDB's memory cap for every connection of a run (profiles/profiles.yml reads the same variable).
MEMORY_LIMIT_ENV = "FEEDS_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "500MB"
#: dbt's threads on the DuckDB profile (profiles/profiles.yml reads it): models built at once share the cap.
THREADS_ENV = "FEEDS_DBT_THREADS"

#: An open warehouse connection. Callers outside this package only pass it back into it.
Connection: TypeAlias = duckdb.DuckDBPyConnection


def require_file(path: Path) -> None:
    """Refuse a DuckDB path with no file: dbt and DuckDB would silently create an empty database."""
    if not path.is_file():
        raise ConfigError(
            f"DuckDB file {path} does not exist; load your raw tables into it, run `feeds demo-data`, "
            "or point FEEDS_DUCKDB_PATH / duckdb_path at your database"
        )


@contextmanager
def connect(path: Path) -> Iterator[Connection]:
    """Open the DuckDB file with a message that names it when that fails.

    Always read-write: dbt-duckdb keeps the file open in this process after a build, and DuckDB
    refuses a second connection to the same file with a different (read-only) configuration.
    """
    require_file(path)
    try:
        connection = duckdb.connect(str(path))
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0]
        if "lock" in reason.lower():
            raise file_in_use(path, reason) from None
        raise ConfigError(f"cannot open DuckDB file {path}: {reason}") from None
    try:
        _configure(connection)
        yield connection
    except duckdb.OutOfMemoryException as exc:
        raise ConfigError(f"DuckDB failed on {path}: {str(exc).splitlines()[0]}. {memory_advice(str(exc))}") from None
    finally:
        connection.close()


def memory_advice(message: str, build: bool = False) -> str | None:
    """What to change when `message` says DuckDB ran out of its memory cap (None otherwise). Fewer
    dbt threads only for a failure in the dbt build (`build`): the runner's own queries (counts,
    fingerprints, exports) run one at a time anyway."""
    if "Out of Memory Error" not in message:
        return None
    limit = os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT)
    advice = f"DuckDB reached its memory cap, {MEMORY_LIMIT_ENV}={limit}: raise it (e.g. 2GB)"
    if build:
        advice += f", or set {THREADS_ENV}=1 so that dbt builds one model at a time (the models built at once share the cap)"
    return advice


@contextmanager
def connect_scratch(spill_dir: Path) -> Iterator[Connection]:
    """A private in-memory database, under the same memory cap as `connect`, spilling beyond it to
    files in `spill_dir`; gone when closed.

    For a warehouse's marts copied here only to be written out (runner.warehouse.target): tables in
    memory are compressed as in a file (`compress`) but never written to disk and synced, which
    made loading them about twice as fast as loading them into a DuckDB file.
    """
    spill_dir.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect()
    try:
        _configure(connection)
        connection.execute(f"set temp_directory = {literal(str(spill_dir))}")
        connection.execute("attach ':memory:' as scratch (compress)")
        connection.execute("use scratch")
        yield connection
    except duckdb.OutOfMemoryException as exc:
        raise ConfigError(f"DuckDB failed copying the marts: {str(exc).splitlines()[0]}. {memory_advice(str(exc))}") from None
    finally:
        connection.close()


def _configure(connection: Connection) -> None:
    limit = os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT)
    try:
        # The same cap dbt's profile sets: exports and fingerprints spill to disk instead of growing.
        connection.execute("set memory_limit = ?", [limit])
    except duckdb.Error:
        raise ConfigError(f"{MEMORY_LIMIT_ENV}={limit!r} is not a memory size; use e.g. 500MB or 4GB") from None
    # As in the profile: COPY writes from all threads without keeping the table's row order (about
    # 1.5x faster at 1M orders, and less memory); Listrak imports by key, so row order is free.
    connection.execute("set preserve_insertion_order = false")


def file_in_use(path: Path, reason: str) -> RunLocked:
    """The one error for a DuckDB file another process holds, whichever step met it (exit 4)."""
    return RunLocked(f"DuckDB file {path} is in use by another process ({reason}); close it and retry")


@contextmanager
def export_errors(path: Path | str) -> Iterator[None]:
    """DuckDB failures while planning, exporting or committing state on `path` (the DuckDB file, or
    what a scratch database holds), as a message that says what to do."""
    try:
        yield
    except duckdb.Error as exc:
        advice = memory_advice(str(exc)) or (
            "If a mart no longer matches the dbt project, run without --skip-build; if another program holds "
            "the file or the state, close it and retry")
        raise ExportError(f"DuckDB failed on {path}: {str(exc).splitlines()[0]}. {advice}") from None
