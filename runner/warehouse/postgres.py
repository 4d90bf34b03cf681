"""PostgreSQL through the dbt adapter's psycopg2 connection: bulk copies both ways.

Out (export): each relation is streamed with `COPY ... TO STDOUT (FORMAT csv)` into a local file and
read by DuckDB with the column types PostgreSQL reports, into the local staging file
(runner.warehouse.target). All relations are read in one REPEATABLE READ transaction, so a mart and
its rejects model come from the same snapshot even while dbt rebuilds.
In (demo data): DuckDB writes each raw table as CSV, and `COPY ... FROM STDIN` loads it.

CSV keeps NULL and the empty string apart both ways: both engines write NULL as an unquoted empty
field and '' as `""`, and read them back so (DuckDB with allow_quoted_nulls=false).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb

from runner.errors import ConfigError, ExportError
from runner.warehouse.sql import identifier, literal

_CHUNK = 1 << 20

#: PostgreSQL's format_type() names -> DuckDB types; numeric(p,s) and varchar(n) are handled apart.
_TYPES = {
    "text": "VARCHAR",
    "character varying": "VARCHAR",
    "character": "VARCHAR",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "smallint": "SMALLINT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp without time zone": "TIMESTAMP",
    "timestamp with time zone": "TIMESTAMPTZ",
    "double precision": "DOUBLE",
    "real": "FLOAT",
    "numeric": "DECIMAL(38,10)",
}

_DUCK_TO_PG = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "BOOLEAN": "boolean",
    "TIMESTAMP": "timestamp",
    "DATE": "date",
    "DOUBLE": "double precision",
}


def duckdb_type(pg_type: str) -> str:
    found = re.fullmatch(r"numeric\((\d+),(\d+)\)", pg_type)
    if found:
        return f"DECIMAL({found.group(1)},{found.group(2)})"
    base = re.sub(r"\(\d+\)$", "", pg_type)
    return _TYPES.get(base, "VARCHAR")


def _columns(cursor: Any, schema: str, name: str) -> tuple[str, list[tuple[str, str]]]:
    cursor.execute(
        """
        select c.relkind, a.attname, format_type(a.atttypid, a.atttypmod)
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where n.nspname = %s and c.relname = %s
        order by a.attnum
        """,
        (schema, name),
    )
    rows = cursor.fetchall()
    if not rows:
        return "", []
    return rows[0][0], [(column, pg_type) for _, column, pg_type in rows]


def copy_out(handle: Any, relations: list[tuple[str, str]], duck: duckdb.DuckDBPyConnection, scratch: Path,
             where: str) -> list[tuple[str, str]]:
    """Copy each (schema, name) into the same-named DuckDB table; return those the warehouse lacks."""
    missing: list[tuple[str, str]] = []
    cursor = handle.cursor()
    try:
        # Explicit transactions, whatever autocommit mode the adapter left: one snapshot for every relation.
        _autocommit(handle)
        cursor.execute("begin isolation level repeatable read, read only")
        # Text forms DuckDB reads back exactly: ISO dates, shortest round-trip floats.
        cursor.execute("set local datestyle = 'ISO, YMD'")
        cursor.execute("set local extra_float_digits = 3")
        cursor.execute("set local timezone = 'UTC'")
        for schema, name in relations:
            kind, columns = _columns(cursor, schema, name)
            if not columns:
                missing.append((schema, name))
                continue
            path = scratch / f"{schema}.{name}.csv"
            source = identifier(schema) + "." + identifier(name)
            query = source if kind == "r" else f"(select * from {source})"
            with open(path, "wb") as out:
                cursor.copy_expert(f"copy {query} to stdout with (format csv)", out, size=_CHUNK)
            types = ", ".join(f"{literal(column)}: {literal(duckdb_type(pg_type))}" for column, pg_type in columns)
            duck.execute(f"create schema if not exists {identifier(schema)}")
            duck.execute(
                f"create or replace table {source} as select * from read_csv({literal(str(path))}, "
                f"columns = {{{types}}}, header = false, auto_detect = false, delim = ',', quote = '\"', "
                "escape = '\"', allow_quoted_nulls = false, nullstr = '')"
            )
            path.unlink()
        cursor.execute("rollback")
    except duckdb.Error as exc:
        raise ExportError(f"reading {where}: DuckDB could not load the copy: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # psycopg2.Error, without importing the driver outside the adapter's connection
        raise ExportError(f"reading {where} failed: {str(exc).strip().splitlines()[0]}") from None
    finally:
        cursor.close()
    return missing


def missing_tables(handle: Any, tables: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Those of the (schema, table) pairs PostgreSQL has neither as a table nor as a view."""
    _autocommit(handle)
    cursor = handle.cursor()
    try:
        cursor.execute("select table_schema, table_name from information_schema.tables")
        have = {(schema, table) for schema, table in cursor.fetchall()}
    finally:
        cursor.close()
    return [pair for pair in tables if pair not in have]


def load_tables(handle: Any, duck: duckdb.DuckDBPyConnection, schema: str, tables: list[str], scratch: Path) -> None:
    """Replace `schema`.<table> in PostgreSQL with DuckDB's table of the same name, by COPY FROM STDIN."""
    _autocommit(handle)
    cursor = handle.cursor()
    try:
        # One transaction: the dbt models never see half the raw tables.
        cursor.execute("begin")
        cursor.execute(f"create schema if not exists {identifier(schema)}")
        for table in tables:
            source = f"{identifier(schema)}.{identifier(table)}"
            columns = duck.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            ddl = ", ".join(f"{identifier(column)} {_pg_type(data_type)}" for column, data_type in columns)
            cursor.execute(f"drop table if exists {source} cascade")
            cursor.execute(f"create table {source} ({ddl})")
            path = scratch / f"{table}.csv"
            duck.execute(f"copy {source} to {literal(str(path))} (format csv, header false)")
            with open(path, "rb") as data:
                cursor.copy_expert(f"copy {source} from stdin with (format csv)", data, size=_CHUNK)
            path.unlink()
        cursor.execute("commit")
        for table in tables:
            cursor.execute(f"analyze {identifier(schema)}.{identifier(table)}")
    except ConfigError:
        _quiet_rollback(cursor)
        raise
    except Exception as exc:
        _quiet_rollback(cursor)
        raise ConfigError(f"loading demo data failed: {str(exc).strip().splitlines()[0]}") from None
    finally:
        cursor.close()


def _pg_type(duck_type: str) -> str:
    if duck_type.startswith("DECIMAL"):
        return duck_type.replace("DECIMAL", "numeric")
    if duck_type not in _DUCK_TO_PG:
        raise ConfigError(f"demo data: no PostgreSQL type for DuckDB's {duck_type}")
    return _DUCK_TO_PG[duck_type]


def _quiet_rollback(cursor: Any) -> None:
    try:
        cursor.execute("rollback")
    except Exception:  # the connection may be gone; the error that brought us here is the one to show
        pass


def _autocommit(handle: Any) -> None:
    """Statements as written (explicit begin/commit), whatever the adapter's manager left open."""
    if not handle.autocommit:
        handle.rollback()
        handle.autocommit = True
