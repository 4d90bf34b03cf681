"""Read-side queries on the DuckDB file that are not the export itself: quarantine counts, previews,
whether the marts exist. The file is opened per use and closed, so dbt and other tools can use it."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import duckdb

from runner.errors import ConfigError, RunLocked
from runner.feed import Feed

#: DuckDB's memory cap for every connection of a run (profiles/profiles.yml reads the same variable).
MEMORY_LIMIT_ENV = "FEEDS_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "500MB"


def require_file(path: Path) -> None:
    """Refuse a DuckDB path with no file: dbt and DuckDB would silently create an empty database."""
    if not path.is_file():
        raise ConfigError(
            f"DuckDB file {path} does not exist; load your raw tables into it, run `feeds demo-data`, "
            "or point FEEDS_DUCKDB_PATH / duckdb_path at your database"
        )


@contextmanager
def connect(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
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
    limit = os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT)
    try:
        # The same cap dbt's profile sets: exports and fingerprints spill to disk instead of growing.
        connection.execute("set memory_limit = ?", [limit])
    except duckdb.Error:
        connection.close()
        raise ConfigError(f"{MEMORY_LIMIT_ENV}={limit!r} is not a memory size; use e.g. 500MB or 4GB") from None
    # As in the profile: COPY writes from all threads without keeping the table's row order (about
    # 1.5x faster at 1M orders, and less memory); Listrak imports by key, so row order is free.
    connection.execute("set preserve_insertion_order = false")
    try:
        yield connection
    finally:
        connection.close()


def file_in_use(path: Path, reason: str) -> RunLocked:
    """The one error for a DuckDB file another process holds, whichever step met it (exit 4)."""
    return RunLocked(f"DuckDB file {path} is in use by another process ({reason}); close it and retry")


def missing_tables(connection: duckdb.DuckDBPyConnection, tables: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Those of the (schema, table) pairs that the database has neither as a table nor as a view."""
    if not tables:
        return []
    # DuckDB matches unquoted and quoted identifiers without regard to case; so does this check.
    present = connection.execute(
        "select distinct lower(table_schema), lower(table_name) from information_schema.tables"
    ).fetchall()
    have = {(schema, table) for schema, table in present}
    return [(schema, table) for schema, table in tables if (schema.lower(), table.lower()) not in have]


def relation_exists(connection: duckdb.DuckDBPyConnection, relation: str) -> bool:
    try:
        connection.execute(f"select 1 from {relation} limit 0")
    except duckdb.CatalogException:
        return False
    return True


@dataclass
class RuleCounts:
    """What a feed's data rules did to its source rows, from its rejects model (see listrak_rejects)."""

    #: Distinct source rows held back, and how many of them carry each reason (a row may have several).
    quarantined_rows: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    #: Rows held back per combination of reasons, e.g. {"duplicate_key + too_long:Title": 2}.
    reason_sets: dict[str, int] = field(default_factory=dict)
    #: Source rows that are no feed candidates, per documented rule (draft, unpublished, test_order ...).
    excluded: dict[str, int] = field(default_factory=dict)
    #: Values cut to their maximum in rows that are sent, per feed column.
    truncated: dict[str, int] = field(default_factory=dict)


def rule_counts(connection: duckdb.DuckDBPyConnection, feed: Feed) -> RuleCounts:
    """Quarantined, excluded and truncated rows of a feed, counted by source row (not by reason)."""
    if not feed.rejects_relation or not relation_exists(connection, feed.rejects_relation):
        return RuleCounts()
    # too_long names its column, so a long ShippingMethod and a long OrderNumber read apart.
    reason = "reject_reason || case when reject_reason = 'too_long' then ':' || feed_column else '' end"
    rows = connection.execute(
        f"""
        with labelled as (
            select source_id, kind, {reason} as reason, feed_column from {feed.rejects_relation}
        ),
        quarantined as (
            select source_id, string_agg(distinct reason, ' + ' order by reason) as reasons
            from labelled where kind = 'quarantined' group by source_id
        )
        select 'quarantined', reason, count(distinct source_id) from labelled
        where kind = 'quarantined' group by reason
        union all
        select 'reason_set', reasons, count(*) from quarantined group by reasons
        union all
        select 'excluded', reason, count(distinct source_id) from labelled
        where kind = 'excluded' group by reason
        union all
        -- A value cut in a row that is held back anyway is not counted: that row is not sent.
        select 'truncated', feed_column, count(distinct source_id) from labelled
        where kind = 'truncated' and source_id not in (select source_id from quarantined)
        group by feed_column
        order by 1, 3 desc, 2
        """
    ).fetchall()
    counts = RuleCounts()
    for kind, name, count in rows:
        {"quarantined": counts.quarantined, "reason_set": counts.reason_sets,
         "excluded": counts.excluded, "truncated": counts.truncated}[kind][str(name)] = int(count)
    counts.quarantined_rows = sum(counts.reason_sets.values())
    return counts


def row_count(connection: duckdb.DuckDBPyConnection, feed: Feed) -> int:
    return int(connection.execute(f"select count(*) from {feed.relation}").fetchone()[0])


def preview(connection: duckdb.DuckDBPyConnection, feed: Feed, limit: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The first rows of a mart, ordered by its key, with column names."""
    if not relation_exists(connection, feed.relation):
        raise ConfigError(f"mart {feed.model} ({feed.relation}) does not exist yet; run `feeds build` first")
    order = ", ".join(f'"{column}"' for column in feed.key)
    cursor = connection.execute(f"select * from {feed.relation} order by {order} limit {int(limit)}")
    return [d[0] for d in cursor.description], cursor.fetchall()
