"""What the incremental models (runner/incremental.py) would recompute, read on the warehouse before
dbt runs: each model's newest `synced_watermark`, how many rows of a change view were synced after a
bound, and dropping a model's table so that dbt builds it whole.

The queries are portable SQL, run on the DuckDB file or on a PostgreSQL target (runner.warehouse.target);
Spark has no incremental models.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from runner.errors import ConfigError
from runner.warehouse.messages import first_line
from runner.warehouse.sql import identifier, literal

#: Runs one statement, returns its rows ([] for a statement without rows).
Query = Callable[[str], list[tuple[Any, ...]]]


@contextlib.contextmanager
def session(target: Any, duckdb_path: Path) -> Iterator[Query]:
    """Statements on the warehouse of `target` (None or embedded: the DuckDB file), each committed."""
    if target is None or target.embedded:
        import duckdb

        from runner.warehouse.connection import connect

        with connect(duckdb_path) as connection:
            def duck(statement: str) -> list[tuple[Any, ...]]:
                try:
                    cursor = connection.execute(statement)
                    return cursor.fetchall() if cursor.description else []
                except duckdb.Error as exc:
                    raise _failed(exc, f"DuckDB file {duckdb_path}") from None

            yield duck
        return
    if target.engine != "postgres":
        raise ConfigError(f"{target.describe()}: incremental models are not kept on {target.engine}")
    from runner.warehouse.target import connection

    with connection(target) as handle:
        handle.autocommit = True

        def postgres(statement: str) -> list[tuple[Any, ...]]:
            try:
                with handle.cursor() as cursor:
                    cursor.execute(statement)
                    return cursor.fetchall() if cursor.description else []
            except Exception as exc:  # psycopg2.Error
                raise _failed(exc, target.describe()) from None

        yield postgres


class QueryFailed(ConfigError):
    """A query of the incremental check failed (a table dropped by hand, a view out of date)."""


def _failed(exc: BaseException, where: str) -> QueryFailed:
    return QueryFailed(f"{where}: {first_line(exc)}")


def newest_watermark(query: Query, relation: str) -> datetime | None:
    """The newest `synced_watermark` in an incremental model's table (None when it is empty)."""
    (value,) = query(f"select max(synced_watermark) from {relation}")[0]
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value


def _timestamp(bound: datetime) -> str:
    """`bound` as macro feeds_changed_after writes it: a timestamp without time zone."""
    return f"cast({literal(bound.strftime('%Y-%m-%d %H:%M:%S.%f'))} as timestamp)"


def rows_synced_after(query: Query, view: str, bounds: list[datetime]) -> tuple[int, list[int]]:
    """A change view's rows, and how many of them were synced after each bound, in one pass."""
    counted = "".join(f", sum(case when synced_at > {_timestamp(bound)} then 1 else 0 end)" for bound in bounds)
    total, *after = query(f"select count(*){counted} from {view}")[0]
    return int(total), [int(value or 0) for value in after]


def keys_synced_after(query: Query, view: str, column: str, bound: datetime, limit: int) -> list[Any] | None:
    """The distinct non-null `column` values of a change view's rows synced after `bound`, sorted (as
    JSON takes them: numbers and strings as they are, anything else as text); None when there are
    more than `limit`."""
    quoted = identifier(column)
    rows = query(f"select distinct {quoted} from {view} where synced_at > {_timestamp(bound)}"
                 f" and {quoted} is not null limit {limit + 1}")
    if len(rows) > limit:
        return None
    return sorted(row[0] if isinstance(row[0], (int, str)) else str(row[0]) for row in rows)


def drop_table(query: Query, relation: str) -> None:
    """Drop an incremental model's table (if there), as dbt's --full-refresh replaces it: with what
    depends on it (dbt's own drop cascades too; the models downstream are tables, rebuilt anyway)."""
    query(f"drop table if exists {relation} cascade")
