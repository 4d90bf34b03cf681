"""The warehouse: the only package that imports DuckDB.

connection  opening the DuckDB file, its memory cap, DuckDB errors mapped to the runner's errors
sql         identifier and literal quoting (the one place SQL is quoted)
queries     read-side queries: marts and sources present, rule counts, row counts, previews
export      the writers of feed files (DuckDB's COPY for CSV/TXT, xlsxwriter for XLSX)
state       the delivery state that delta files are computed from
file_reader / file_checks   the DuckDB reader and SQL checks behind `feeds validate`

A second engine would be a sibling of this package with the same functions; nothing outside it
names DuckDB.
"""

from runner.warehouse.connection import Connection, connect, export_errors, file_in_use, require_file
from runner.warehouse.queries import RuleCounts, missing_tables, preview, relation_exists, row_count, rule_counts

__all__ = [
    "Connection",
    "RuleCounts",
    "connect",
    "export_errors",
    "file_in_use",
    "missing_tables",
    "preview",
    "relation_exists",
    "require_file",
    "row_count",
    "rule_counts",
]
