"""Delivery state on a small two-key mart: what a delta carries, what a still-waiting file adds,
state written by feeds 0.1.0 (keys as text) read after the upgrade without re-sending anything, and
on a mart with built_at, which rows a delta fingerprints at all. The end-to-end runs are in
test_delta.py; these check the state's own rules directly."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from runner.feed import Column, Feed
from runner.warehouse.state import DeliveryState

FEED = Feed(
    name="order_items",
    model="items",
    relation="items",
    file_name="Items_{date}",
    key=("OrderNumber", "Sku"),
    mode="delta",
    columns=(Column("OrderNumber", "varchar"), Column("Sku", "varchar"), Column("Quantity", "integer")),
)


@pytest.fixture()
def connection(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        connection.execute(
            "create table items as select 'O' || (i // 3) as \"OrderNumber\", 'S' || (i % 3) as \"Sku\", "
            "i as \"Quantity\" from range(300) t(i)"
        )
        yield connection


def file_keys(connection: duckdb.DuckDBPyConnection, relation: str) -> set[tuple[str, str]]:
    return set(connection.execute(f'select "OrderNumber", "Sku" from {relation}').fetchall())


def deliver(state: DeliveryState, run_id: str, remote: str, waiting: str | None = None):
    prepared = state.prepare(FEED, "delta", waiting)
    state.commit(run_id, prepared, remote, f"/in/{remote}", None)
    return prepared


def test_a_delta_carries_changed_rows_and_the_waiting_files_rows(connection, tmp_path: Path) -> None:
    state = DeliveryState(connection, tmp_path / "state.duckdb")
    first = deliver(state, "20260101T000000Z-0001", "Items_20260101.csv")
    assert (first.total_rows, first.changed_rows, first.file_rows, first.has_state) == (300, 300, 300, False)

    unchanged = state.prepare(FEED, "delta", None)
    assert (unchanged.changed_rows, unchanged.file_rows) == (0, 0)
    assert unchanged.fingerprinted_rows == 300  # no built_at column: every row, every time
    assert file_keys(connection, unchanged.relation) == set()

    connection.execute("update items set \"Quantity\" = -1 where \"OrderNumber\" = 'O7'")
    connection.execute("insert into items values ('O999', 'S0', 1)")
    changed = state.prepare(FEED, "delta", None)
    assert (changed.total_rows, changed.changed_rows, changed.file_rows) == (301, 4, 4)
    assert file_keys(connection, changed.relation) == {("O7", "S0"), ("O7", "S1"), ("O7", "S2"), ("O999", "S0")}

    # A waiting file under another name (yesterday's) is never replaced by this one.
    other = state.prepare(FEED, "delta", "Items_20251231.csv")
    assert other.file_rows == 4
    # The first file is still waiting under today's name: the replacement carries its rows too.
    # (One prepare per feed and run: a later prepare replaces the temporary tables of this one.)
    carrying = state.prepare(FEED, "delta", "Items_20260101.csv")
    assert (carrying.changed_rows, carrying.file_rows) == (4, 301)
    assert len(file_keys(connection, carrying.relation)) == 301

    state.commit("20260101T010000Z-0002", carrying, "Items_20260101.csv", None, None)
    # Still waiting after the second delivery: every row of both files is carried again.
    again = state.prepare(FEED, "delta", "Items_20260101.csv")
    assert (again.changed_rows, again.file_rows) == (0, 301)
    # Picked up since: nothing old is carried.
    assert state.prepare(FEED, "delta", None).file_rows == 0


def test_a_waiting_key_missing_from_one_replacement_is_carried_when_it_returns(connection, tmp_path: Path) -> None:
    state = DeliveryState(connection, tmp_path / "state.duckdb")
    deliver(state, "r1", "Items_20260101.csv")  # waiting, holds every key
    connection.execute("create table parked as select * from items where \"OrderNumber\" = 'O5'")
    connection.execute("delete from items where \"OrderNumber\" = 'O5'")  # e.g. quarantined for a while
    replacement = deliver(state, "r2", "Items_20260101.csv", waiting="Items_20260101.csv")
    assert replacement.file_rows == 297  # the first file is replaced without O5's three rows
    connection.execute("insert into items select * from parked")  # back, unchanged
    third = state.prepare(FEED, "delta", "Items_20260101.csv")  # the second file is still waiting
    assert ("O5", "S0") in file_keys(connection, third.relation) and third.file_rows == 300
    assert third.changed_rows == 0


def test_state_from_version_0_1_keys_as_text_is_migrated_without_resending(connection, tmp_path: Path) -> None:
    path = tmp_path / "state.duckdb"
    key = "coalesce(cast(\"OrderNumber\" as varchar), '') || chr(31) || coalesce(cast(\"Sku\" as varchar), '')"
    with duckdb.connect(str(path)) as old:
        old.execute(
            "create table delivered_rows (feed varchar not null, row_key varchar not null, "
            "row_hash ubigint not null, run_id varchar not null)"
        )
        old.execute("create table waiting_rows (feed varchar not null, remote_name varchar not null, row_key varchar not null)")
        old.execute(
            "create table deliveries (run_id varchar not null, feed varchar not null, mode varchar not null, "
            "rows bigint not null, remote_name varchar not null, remote_path varchar, sha256 varchar, "
            "delivered_at timestamptz not null default current_timestamp)"
        )
    connection.execute(f"attach '{path}' as old_state")
    connection.execute(
        f"insert into old_state.delivered_rows select 'order_items', {key}, "
        "hash(\"OrderNumber\", \"Sku\", \"Quantity\"), 'r1' from items"
    )
    connection.execute(
        "insert into old_state.deliveries (run_id, feed, mode, rows, remote_name) "
        "values ('r1', 'order_items', 'delta', 300, 'Items_20260101.csv')"
    )
    connection.execute("detach old_state")

    state = DeliveryState(connection, path)
    tables = {row[0] for row in connection.execute(
        "select table_name from duckdb_tables() where database_name = 'feeds_state'").fetchall()}
    assert "waiting_rows" not in tables
    prepared = state.prepare(FEED, "delta", None)
    assert (prepared.total_rows, prepared.changed_rows, prepared.file_rows) == (300, 0, 0)
    assert state.prepare(FEED, "delta", "Items_20260101.csv").file_rows == 300


# -- A mart whose rows carry built_at: only builds the last committed delivery did not see ----------

T1, T2, T3 = "timestamp '2026-03-01 10:00:00'", "timestamp '2026-03-01 10:30:00'", "timestamp '2026-03-01 11:00:00'"


@pytest.fixture()
def built(connection):
    """The items mart as an incremental mart: every row written by one build at T1."""
    connection.execute(f"alter table items add column built_at timestamp default {T1}")
    return connection


def rebuild(connection, order: str, built_at: str, quantity: str = '"Quantity"') -> None:
    """What feeds_replace does: the order's rows deleted and inserted again, by a build at `built_at`."""
    connection.execute(
        f"""create or replace temp table rewritten as select "OrderNumber", "Sku", {quantity} as "Quantity",
        {built_at} as built_at from items where "OrderNumber" = '{order}'"""
    )
    connection.execute(f"delete from items where \"OrderNumber\" = '{order}'")
    connection.execute("insert into items select * from rewritten")


def fingerprinted(prepared) -> tuple[int, int, int]:
    return prepared.fingerprinted_rows, prepared.changed_rows, prepared.file_rows


def test_only_rows_of_builds_not_delivered_are_fingerprinted(built, tmp_path: Path) -> None:
    state = DeliveryState(built, tmp_path / "state.duckdb")
    assert fingerprinted(deliver(state, "r1", "Items_1.csv")) == (300, 300, 300)
    assert fingerprinted(state.prepare(FEED, "delta", None)) == (0, 0, 0)

    rebuild(built, "O7", T2)  # rewritten with the same values
    rebuild(built, "O8", T2, quantity='"Quantity" + 1000')
    changed = state.prepare(FEED, "delta", None)
    assert fingerprinted(changed) == (6, 3, 3)
    assert file_keys(built, changed.relation) == {("O8", "S0"), ("O8", "S1"), ("O8", "S2")}
    assert changed.total_rows == 300
    # Not committed (the delivery failed): the next run compares those rows again.
    again = deliver(state, "r2", "Items_2.csv")
    assert fingerprinted(again) == (6, 3, 3)
    assert fingerprinted(state.prepare(FEED, "delta", None)) == (0, 0, 0)


def test_a_build_older_than_the_delivered_ones_is_compared(built, tmp_path: Path) -> None:
    """A set of values, not the newest: after a clock stepped back a build's built_at is older."""
    state = DeliveryState(built, tmp_path / "state.duckdb")
    rebuild(built, "O1", T3)
    deliver(state, "r1", "Items_1.csv")
    rebuild(built, "O2", T2, quantity="-1")  # between T1 and T3, never delivered
    prepared = state.prepare(FEED, "delta", None)
    assert fingerprinted(prepared) == (3, 3, 3)
    assert file_keys(built, prepared.relation) == {("O2", "S0"), ("O2", "S1"), ("O2", "S2")}


def test_a_waiting_files_keys_are_fingerprinted_and_carried(built, tmp_path: Path) -> None:
    state = DeliveryState(built, tmp_path / "state.duckdb")
    deliver(state, "r1", "Items_1.csv")
    rebuild(built, "O4", T2, quantity="-4")
    deliver(state, "r2", "Items_2.csv")  # still waiting
    rebuild(built, "O5", T3, quantity="-5")
    carrying = state.prepare(FEED, "delta", "Items_2.csv")
    assert fingerprinted(carrying) == (6, 3, 6)
    assert {key[0] for key in file_keys(built, carrying.relation)} == {"O4", "O5"}


def test_every_row_is_fingerprinted_when_the_state_cannot_tell(built, tmp_path: Path) -> None:
    state = DeliveryState(built, tmp_path / "state.duckdb")
    deliver(state, "r1", "Items_1.csv")
    rebuild(built, "O3", T2, quantity="-3")
    deliver(state, "r2", "Items_2.csv")
    assert fingerprinted(state.prepare(FEED, "delta", None)) == (0, 0, 0)

    # Delivered rows lost or edited since the commit: every row is compared, and the lost ones sent.
    built.execute("delete from feeds_state.delivered_rows "
                  "where row_key in (select row_key from feeds_state.delivered_rows limit 2)")
    assert fingerprinted(state.prepare(FEED, "delta", None)) == (300, 2, 2)
    deliver(state, "r3", "Items_3.csv")
    assert fingerprinted(state.prepare(FEED, "delta", None)) == (0, 0, 0)

    # Other columns hashed (the feed's definition changed): every row, every fingerprint new.
    fewer = replace(FEED, columns=FEED.columns[:2])
    assert fingerprinted(state.prepare(fewer, "delta", None)) == (300, 300, 300)

    # State from before delivered_builds (no record of them): every row once, then only new builds.
    built.execute("delete from feeds_state.delivered_builds")
    built.execute("update feeds_state.deliveries set hashed = null, state_rows = null")
    assert fingerprinted(deliver(state, "r4", "Items_4.csv")) == (300, 0, 0)
    assert fingerprinted(state.prepare(FEED, "delta", None)) == (0, 0, 0)


def test_a_full_delivery_records_its_builds_too(built, tmp_path: Path) -> None:
    state = DeliveryState(built, tmp_path / "state.duckdb")
    deliver(state, "r1", "Items_1.csv")
    rebuild(built, "O6", T2, quantity="-6")
    full = state.prepare(FEED, "full", None)
    assert fingerprinted(full) == (300, 300, 300)
    state.commit("r2", full, "Items_2.csv", None, None)
    assert fingerprinted(state.prepare(FEED, "delta", None)) == (0, 0, 0)
