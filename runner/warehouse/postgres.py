"""PostgreSQL through psycopg2: connections from the profile's settings, bulk copies both ways.

Connecting does not import dbt (about 2 s of start-up): the profile's `postgres` output, rendered by
runner.warehouse.target, becomes `Settings`, opened the way dbt-postgres opens it (same keywords,
`set role`, search_path), so a build and an export reach the same server as the same user.

Out (export): every relation is read in one snapshot: the first connection opens a REPEATABLE READ
transaction and exports its snapshot, and a few more connections import it, so several tables stream
at once and a mart and its rejects model still agree even while dbt rebuilds. Each table goes
`COPY (select ...) TO STDOUT (FORMAT csv)` -> a named pipe -> DuckDB's read_csv with the column types
PostgreSQL reports, into the local staging database (runner.warehouse.target): no file on disk, and
DuckDB parses while PostgreSQL writes. A large table goes in pieces (ranges of its pages,
CHUNK_PAGES), each copy appended to the one DuckDB table, so the connections finish together. A
mart comes with only the columns the export reads, in no particular order: nothing sorts, neither
the server nor the file writer (a warehouse's files leave row order free, README "Run on your
warehouse").
In (demo data): DuckDB writes each raw table as CSV, and `COPY ... FROM STDIN` loads it.

CSV keeps NULL and the empty string apart both ways: both engines write NULL as an unquoted empty
field and '' as `""`, and read them back so (DuckDB with allow_quoted_nulls=false).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from runner.errors import ConfigError, ExportError
from runner.warehouse.messages import first_line, scrub
from runner.warehouse.sql import identifier, literal

_CHUNK = 1 << 20
#: DuckDB's read_csv buffer for a pipe (at least its 2 MB max_line_size).
_READ_BUFFER = 4 << 20

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


@dataclass(frozen=True)
class Settings:
    """The profile's `postgres` output, rendered: what psycopg2 needs to connect (dbt-postgres' fields)."""

    host: str
    port: int
    user: str
    database: str
    schema: str
    password: str = field(default="", repr=False)
    sslmode: str | None = None
    sslcert: str | None = None
    sslkey: str | None = None
    sslrootcert: str | None = None
    connect_timeout: int = 10
    keepalives_idle: int = 0
    search_path: str | None = None
    role: str | None = None
    application_name: str | None = "feeds"

    @classmethod
    def from_output(cls, output: dict[str, Any], where: str) -> "Settings":
        """From a rendered profile output (dbt's aliases dbname and pass accepted)."""
        values = dict(output)
        for alias, name in (("dbname", "database"), ("pass", "password")):
            if alias in values:
                values[name] = values.pop(alias)
        absent = [name for name in ("host", "user", "database", "schema") if not values.get(name)]
        if absent:
            raise ConfigError(f"{where}: profiles.yml sets no {', '.join(absent)}")
        known = {name: values[name] for name in cls.__dataclass_fields__ if values.get(name) not in (None, "")}
        try:
            for name in ("port", "connect_timeout", "keepalives_idle"):
                if name in known:
                    known[name] = int(known[name])
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {name} {known[name]!r} is not a number (profiles.yml)") from None
        known.setdefault("port", 5432)
        return cls(**{name: value if name in ("port", "connect_timeout", "keepalives_idle") else str(value)
                      for name, value in known.items()})


def connect(settings: Settings, where: str) -> Any:
    """A psycopg2 connection, opened as dbt-postgres opens it; failures are a ConfigError naming
    `where` (target, host and database), never the password."""
    try:
        import psycopg2
    except ImportError:
        raise ConfigError(f"{where}: the PostgreSQL driver is not installed (pip install -e '.[postgres]')") from None
    options = {name: getattr(settings, name) for name in ("sslmode", "sslcert", "sslkey", "sslrootcert", "application_name")
               if getattr(settings, name)}
    if settings.keepalives_idle:
        options["keepalives_idle"] = settings.keepalives_idle
    if settings.search_path:
        options["options"] = "-c search_path=" + settings.search_path.replace(" ", "\\ ")
    try:
        handle = psycopg2.connect(dbname=settings.database, user=settings.user, host=settings.host,
                                  password=settings.password, port=settings.port,
                                  connect_timeout=settings.connect_timeout, **options)
    except psycopg2.Error as exc:
        raise ConfigError(f"cannot connect to {where}: {scrub(first_line(exc), settings)}") from None
    try:
        if settings.role:
            with handle.cursor() as cursor:
                cursor.execute(f"set role {identifier(settings.role)}")
    except psycopg2.Error as exc:
        handle.close()
        raise ConfigError(f"{where}: set role {settings.role} failed: {first_line(exc)}") from None
    return handle


def _columns(cursor: Any, relations: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, int, list[tuple[str, str]]]]:
    """Per (schema, name) present: its kind (r table, v view...), its pages (0 for a view), and
    (column, type)s. Pages, not the planner's row estimate: a table dbt has just created is not yet
    analysed (reltuples -1)."""
    cursor.execute(
        """
        select n.nspname, c.relname, c.relkind,
               case when c.relkind = 'r' then coalesce(pg_relation_size(c.oid), 0) / current_setting('block_size')::bigint
                    else 0 end,
               a.attname, format_type(a.atttypid, a.atttypmod)
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where (n.nspname, c.relname) in (select * from unnest(%s::text[], %s::text[]))
        order by n.nspname, c.relname, a.attnum
        """,
        ([schema for schema, _ in relations], [name for _, name in relations]),
    )
    found: dict[tuple[str, str], tuple[str, int, list[tuple[str, str]]]] = {}
    for schema, name, kind, pages, column, pg_type in cursor.fetchall():
        found.setdefault((schema, name), (kind, int(pages), []))[2].append((column, pg_type))
    return found


#: Connections reading at once: PostgreSQL writes CSV in one backend per connection while DuckDB
#: parses in this process, so a few overlap well even on two cores.
PARALLEL = 3
#: A table of more pages than this (of 8 KiB: 128 MiB) is copied in pieces, equal ranges of its pages
#: (`ctid`), each a job of its own: the largest mart then no longer copies alone at the end while the
#: other connections are idle (at 1M orders the order items, 45,000 pages, go in three pieces).
CHUNK_PAGES = 16_384


def _pieces(pages: int) -> list[str]:
    """Conditions splitting a table of `pages` pages into ranges of at most about CHUNK_PAGES pages,
    which together hold every row once (the last range is open: a page added since is in it);
    `[""]` (every row) for a table no larger."""
    count = -(-pages // CHUNK_PAGES)
    if count <= 1:
        return [""]
    bounds = [pages * index // count for index in range(1, count)]
    conditions = [f"ctid < '({bounds[0]},0)'::tid"]
    conditions += [f"ctid >= '({low},0)'::tid and ctid < '({high},0)'::tid" for low, high in zip(bounds, bounds[1:])]
    return conditions + [f"ctid >= '({bounds[-1]},0)'::tid"]


def _begin(cursor: Any, snapshot: str | None) -> None:
    cursor.execute("begin isolation level repeatable read, read only")
    if snapshot is not None:
        cursor.execute("set transaction snapshot %s", (snapshot,))
    # Text forms DuckDB reads back exactly: ISO dates, shortest round-trip floats, UTC.
    cursor.execute("set local datestyle = 'ISO, YMD'")
    cursor.execute("set local extra_float_digits = 3")
    cursor.execute("set local timezone = 'UTC'")


def copy_out(settings: Settings, relations: list[tuple[str, str, tuple[str, ...] | None]],
             duck: duckdb.DuckDBPyConnection, scratch: Path, where: str) -> list[tuple[str, str]]:
    """Copy each (schema, name, columns) into the same-named DuckDB table (only `columns` when given,
    all otherwise), rows in no particular order; return the (schema, name)s PostgreSQL lacks."""
    # The readers' cursors start in the default database: they load into the one `duck` uses.
    database = str(duck.execute("select current_database()").fetchone()[0])
    first = connect(settings, where)
    try:
        _autocommit(first)
        with first.cursor() as cursor:
            # The catalog first, outside the transaction: its first query would take the snapshot.
            present = _columns(cursor, [(schema, name) for schema, name, _ in relations])
            _begin(cursor, None)
            if present:
                # Locked before the snapshot and until every copy is done: a rebuild cannot swap in,
                # drop or rewrite a relation between the pieces of its copy (it waits for the export),
                # and one that committed before the lock is in the snapshot.
                cursor.execute("lock table " + ", ".join(f"{identifier(schema)}.{identifier(name)}" for schema, name in present)
                               + " in access share mode")
            cursor.execute("select pg_export_snapshot(), current_setting('server_version_num')::int")
            snapshot, version = cursor.fetchone()
            snapshot = str(snapshot)
            # A piece reads only its pages with a TID range scan (PostgreSQL 14 and later); before,
            # every piece would scan the whole table.
            split = int(version) >= 140000
            missing = [(schema, name) for schema, name, _ in relations if (schema, name) not in present]
            jobs = []
            for schema, name, wanted in relations:
                if (schema, name) not in present:
                    continue
                kind, pages, columns = present[(schema, name)]
                if wanted is not None:
                    # DuckDB reads the copy by name later, without regard to case.
                    lowered = {column.lower() for column in wanted}
                    columns = [column for column in columns if column[0].lower() in lowered]
                duck.execute(f"create schema if not exists {identifier(schema)}")
                # Every piece's copy is appended to it, from several readers at once.
                duck.execute(f"create or replace table {identifier(schema)}.{identifier(name)} ("
                             + ", ".join(f"{identifier(column)} {duckdb_type(pg_type)}" for column, pg_type in columns) + ")")
                pieces = _pieces(pages) if kind == "r" and split else [""]
                for piece in pieces:
                    jobs.append((pages / len(pieces), schema, name, kind, columns, wanted is not None, piece))
            # The biggest first, so the last one to finish is a small one.
            jobs.sort(key=lambda job: -job[0])
            queue = [job[1:] for job in jobs]
            lock = threading.Lock()

            def worker(index: int) -> None:
                handle = first if index == 0 else connect(settings, where)
                try:
                    if index:
                        _autocommit(handle)
                    with handle.cursor() as own:
                        if index:
                            _begin(own, snapshot)
                        while True:
                            with lock:
                                job = queue.pop(0) if queue else None
                            if job is None:
                                break
                            _copy_one(own, duck, database, scratch, *job)
                        if index:
                            own.execute("rollback")
                finally:
                    if index:
                        handle.close()

            with ThreadPoolExecutor(max_workers=min(PARALLEL, max(1, len(queue)))) as pool:
                futures = [pool.submit(worker, index) for index in range(min(PARALLEL, max(1, len(queue))))]
                errors = [future.exception() for future in futures]
            problem = next((error for error in errors if error is not None), None)
            if problem is not None:
                raise problem
            cursor.execute("rollback")
    except (ConfigError, ExportError):
        raise
    except duckdb.Error as exc:
        raise ExportError(f"reading {where}: DuckDB could not load the copy: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # psycopg2.Error and a broken pipe
        raise ExportError(f"reading {where} failed: {first_line(exc)}") from None
    finally:
        first.close()
    return missing


def _copy_one(cursor: Any, duck: duckdb.DuckDBPyConnection, database: str, scratch: Path, schema: str, name: str,
              kind: str, columns: list[tuple[str, str]], projected: bool, piece: str) -> None:
    """One relation, or the piece of it `piece` selects, streamed through a named pipe: PostgreSQL's
    COPY writes it while DuckDB reads it and appends it to the table of the same name."""
    source = identifier(schema) + "." + identifier(name)
    selected = ", ".join(identifier(column) for column, _ in columns) if projected else "*"
    if piece:
        query = f"(select {selected} from {source} where {piece})"
    elif projected or kind != "r":
        query = f"(select {selected} from {source})"
    else:
        query = source
    pipe = scratch / f"{schema}.{name}.{threading.get_ident()}.csv"
    types = ", ".join(f"{literal(column)}: {literal(duckdb_type(pg_type))}" for column, pg_type in columns)
    load = (
        f"insert into {source} select * from read_csv({literal(str(pipe))}, "
        f"columns = {{{types}}}, header = false, auto_detect = false, delim = ',', quote = '\"', "
        "escape = '\"', allow_quoted_nulls = false, nullstr = '', "
        # A few MB per read, not DuckDB's larger default: parsing keeps pace with the pipe (order_items
        # at 1M orders through the pipe, with the 1 MiB pipe below: 4.4 s against 5.1-5.3 s, loaded machine).
        f"buffer_size = {_READ_BUFFER})"
    )
    os.mkfifo(pipe)
    reader = duck.cursor()
    try:
        reader.execute(f"use {identifier(database)}")
        with ThreadPoolExecutor(max_workers=1) as one:
            loaded: Future[Any] = one.submit(reader.execute, load)
            try:
                with _open_writer(pipe, loaded) as out:
                    cursor.copy_expert(f"copy {query} to stdout with (format csv)", out, size=_CHUNK)
            finally:
                pipe.unlink(missing_ok=True)
            loaded.result()
    finally:
        # On a failed COPY or a broken pipe too: the cursor belongs to the shared DuckDB connection.
        reader.close()


def _open_writer(pipe: Path, reader: Future[Any]) -> Any:
    """The pipe's write end, once DuckDB has opened the read end; if DuckDB fails before, its error.

    (A plain open() would wait forever for a reader that never comes.)"""
    while True:
        try:
            fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # no reader yet
                raise
            if reader.done():
                reader.result()
                raise ExportError(f"DuckDB did not read {pipe.name}")
            time.sleep(0.001)
    os.set_blocking(fd, True)
    with contextlib.suppress(OSError, AttributeError):
        # A 1 MiB pipe (Linux's default cap for unprivileged users) instead of 64 KiB: fewer stalls.
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _CHUNK)
    return os.fdopen(fd, "wb", buffering=_CHUNK)


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


def preview(handle: Any, schema: str, name: str, key: tuple[str, ...], limit: int) -> tuple[list[str], list[tuple[Any, ...]]] | None:
    """The first `limit` rows of schema.name by `key`, with column names; None if it does not exist."""
    if missing_tables(handle, [(schema, name)]):
        return None
    order = ", ".join(identifier(column) for column in key)
    with handle.cursor() as cursor:
        cursor.execute(f"select * from {identifier(schema)}.{identifier(name)} order by {order} limit {int(limit)}")
        return [column[0] for column in cursor.description], [tuple(row) for row in cursor.fetchall()]


def table_columns(handle: Any, schema: str) -> dict[str, set[str]]:
    """The tables and views of `schema` with their columns, all names lower-cased."""
    _autocommit(handle)
    try:
        with handle.cursor() as cursor:
            cursor.execute(
                "select lower(table_name), lower(column_name) from information_schema.columns "
                "where lower(table_schema) = lower(%s)",
                (schema,),
            )
            rows = cursor.fetchall()
    except Exception as exc:  # psycopg2.Error
        raise ConfigError(f"reading the tables of schema {schema} failed: {first_line(exc)}") from None
    tables: dict[str, set[str]] = {}
    for table, column in rows:
        tables.setdefault(table, set()).add(column)
    return tables


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
