"""Read-side queries on the warehouse that are not the export itself: quarantine counts, previews,
whether the marts and the source tables exist."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from runner.errors import ConfigError
from runner.feed import Feed
from runner.warehouse.connection import Connection
from runner.warehouse.sql import identifier


def missing_tables(connection: Connection, tables: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Those of the (schema, table) pairs that the database has neither as a table nor as a view."""
    if not tables:
        return []
    # DuckDB matches unquoted and quoted identifiers without regard to case; so does this check.
    present = connection.execute(
        "select distinct lower(table_schema), lower(table_name) from information_schema.tables"
    ).fetchall()
    have = {(schema, table) for schema, table in present}
    return [(schema, table) for schema, table in tables if (schema.lower(), table.lower()) not in have]


def table_columns(connection: Connection, schema: str) -> dict[str, set[str]]:
    """The tables and views of a schema with their columns, all names lower-cased."""
    rows = connection.execute(
        "select lower(table_name), lower(column_name) from information_schema.columns"
        " where lower(table_schema) = lower(?)",
        [schema],
    ).fetchall()
    tables: dict[str, set[str]] = {}
    for table, column in rows:
        tables.setdefault(table, set()).add(column)
    return tables


def relation_exists(connection: Connection, relation: str) -> bool:
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


#: The rejects model's columns rule_counts reads (a warehouse target copies only these).
REJECTS_COLUMNS = ("source_id", "kind", "reject_reason", "feed_column")


def rule_counts(connection: Connection, feed: Feed) -> RuleCounts:
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


def row_count(connection: Connection, feed: Feed) -> int:
    return int(connection.execute(f"select count(*) from {feed.relation}").fetchone()[0])


def preview(connection: Connection, feed: Feed, limit: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The first rows of a mart, ordered by its key, with column names."""
    if not relation_exists(connection, feed.relation):
        raise ConfigError(f"mart {feed.model} ({feed.relation}) does not exist yet; run `feeds build` first")
    order = ", ".join(identifier(column) for column in feed.key)
    cursor = connection.execute(f"select * from {feed.relation} order by {order} limit {int(limit)}")
    return [d[0] for d in cursor.description], cursor.fetchall()


def reject_examples(connection: Connection, feed: Feed, per_reason: int = 3) -> dict[str, list[str]]:
    """Up to `per_reason` keys of the feed's quarantined rows per reason (its key columns, else the
    source row's id), for the report; the caller masks e-mail addresses."""
    if not feed.rejects_relation or not relation_exists(connection, feed.rejects_relation):
        return {}
    columns = {d[0] for d in connection.execute(f"select * from {feed.rejects_relation} limit 0").description}
    keys = [f"coalesce(cast({identifier(column)} as varchar), '')" for column in feed.key if column in columns]
    key = " || ' / ' || ".join(keys) if keys else "''"
    reason = "reject_reason || case when reject_reason = 'too_long' then ':' || feed_column else '' end"
    rows = connection.execute(
        f"""
        with labelled as (
            select distinct {reason} as reason,
                coalesce(nullif(trim({key}, ' /'), ''), 'source row ' || source_id) as example
            from {feed.rejects_relation} where kind = 'quarantined'
        ),
        numbered as (
            select reason, example, row_number() over (partition by reason order by example) as position
            from labelled
        )
        select reason, example from numbered where position <= ? order by reason, example
        """,
        [int(per_reason)],
    ).fetchall()
    examples: dict[str, list[str]] = {}
    for name, example in rows:
        examples.setdefault(str(name), []).append(str(example))
    return examples
