"""The warehouse: the only package that imports DuckDB.

connection  opening the DuckDB file, its memory cap, DuckDB errors mapped to the runner's errors
sql         identifier and literal quoting (the one place SQL is quoted)
queries     read-side queries: marts and sources present, rule counts, row counts, previews
export      the writers of feed files (DuckDB's COPY for CSV/TXT, xlsxwriter for XLSX)
state       the delivery state that delta files are computed from
file_reader / file_checks   the DuckDB reader and SQL checks behind `feeds validate`
target      which engine a dbt target runs on; a warehouse's marts copied into a local DuckDB file
postgres / spark   those copies (and the demo loader, the raw-tables check) per engine, through
            the dbt adapter's connection
messages    a driver's or dbt's error as one line, secrets masked
changes     what the incremental models would recompute (read before dbt runs), dropping a table to rebuild

Nothing outside this package names an engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.warehouse.connection import (
        Connection, connect, connect_scratch, export_errors, file_in_use, memory_advice, require_file,
    )
    from runner.warehouse.queries import (
        RuleCounts, missing_tables, preview, reject_examples, relation_exists, row_count, rule_counts,
        table_columns,
    )

# Loaded on first use, so that `runner.warehouse.sql` (quoting, used by the dbt side) and the
# commands that only deliver (`feeds upload`, `feeds resend`) do not pay for importing DuckDB.
_HOME = {
    "Connection": "connection",
    "connect": "connection",
    "connect_scratch": "connection",
    "export_errors": "connection",
    "file_in_use": "connection",
    "memory_advice": "connection",
    "require_file": "connection",
    "RuleCounts": "queries",
    "missing_tables": "queries",
    "preview": "queries",
    "reject_examples": "queries",
    "relation_exists": "queries",
    "row_count": "queries",
    "rule_counts": "queries",
    "table_columns": "queries",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'runner.warehouse' has no attribute {name!r}")
    return getattr(importlib.import_module(f"runner.warehouse.{_HOME[name]}"), name)
