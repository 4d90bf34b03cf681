"""SQL quoting, written once for every query the runner builds.

DuckDB (like PostgreSQL) follows standard SQL here: an identifier is double-quoted with each `"`
doubled, a string literal single-quoted with each `'` doubled. A backslash is an ordinary
character in both (DuckDB has no backslash escapes outside E'' strings), so it is left as is.
Values go through these functions, or through `?` parameters where the statement allows them
(DDL, COPY options and `read_csv` arguments do not).
"""

from __future__ import annotations


def identifier(name: str) -> str:
    """`name` as a quoted SQL identifier (a column, table or schema name), exactly as spelled."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str | None) -> str:
    """`value` as a SQL string literal; None as `null`."""
    if value is None:
        return "null"
    return "'" + value.replace("'", "''") + "'"


def relation(schema: str, name: str) -> str:
    """A schema-qualified relation, both parts quoted."""
    return f"{identifier(schema)}.{identifier(name)}"
