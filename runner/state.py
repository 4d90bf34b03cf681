"""Delivery state: what each feed last delivered, row by row, so delta files carry every row that is
new or changed since, and nothing is skipped if a run dies half-way.

The state lives in its own DuckDB file (`<state_dir>/state.duckdb`), attached to the warehouse
connection as `feeds_state`, so rebuilding or replacing the warehouse never loses it. For each
delivered row it keeps the row's key and a fingerprint (a 64-bit hash of every column's value); a
row whose fingerprint differs from the delivered one is sent again. That catches changes that arrive
through joined tables (a fulfillment changing an order's status), which a source `updated_at`
watermark would miss.

The state of a feed advances only in `commit`, which the pipeline calls once the feed's file is
confirmed under its final remote name: a run killed anywhere before that leaves the state as it was,
and the next run sends those rows again (Listrak upserts by key, so a repeat is harmless).

Files still waiting on the server: Listrak picks files up on its own schedule, so a file may replace
one of the same name that has not been imported yet. The state remembers which keys each remote
name holds since it was last seen picked up; while that file is still there, the next file under
the same name also carries those keys (with their current values), so a replacement never loses rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from runner.feed import Feed

SCHEMA = """
create table if not exists feeds_state.delivered_rows (
    feed varchar not null,
    row_key varchar not null,
    row_hash ubigint not null,
    run_id varchar not null,
    primary key (feed, row_key)
);
create table if not exists feeds_state.waiting_rows (
    feed varchar not null,
    remote_name varchar not null,
    row_key varchar not null,
    primary key (feed, remote_name, row_key)
);
create table if not exists feeds_state.deliveries (
    run_id varchar not null,
    feed varchar not null,
    mode varchar not null,
    rows bigint not null,
    remote_name varchar not null,
    remote_path varchar,
    sha256 varchar,
    delivered_at timestamptz not null default current_timestamp
);
"""


@dataclass(frozen=True)
class Prepared:
    """One feed's rows for this run, fingerprinted, and the view of what its file will hold."""

    feed: str
    mode: str  # full | delta
    #: A temporary view with exactly the feed's columns and the rows of this run's file.
    relation: str
    #: Rows in the mart now.
    total_rows: int
    #: Rows new or changed since the last delivery (all rows in full mode).
    changed_rows: int
    #: Rows in the file: the changed ones plus those a still-waiting file of the same name holds.
    file_rows: int
    #: Whether this feed was ever delivered (the first delivery is never gated as a delta).
    has_state: bool
    #: Rows of the last delivered full file, if any.
    last_full_rows: int | None


class DeliveryState:
    """The one owner of delivery state. Use with an open warehouse connection."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.connection = connection
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        attached = {row[0] for row in connection.execute("select database_name from duckdb_databases()").fetchall()}
        if "feeds_state" not in attached:
            connection.execute(f"attach {_literal(str(path))} as feeds_state")
        connection.execute(SCHEMA)

    def prepare(self, feed: Feed, mode: str, waiting_remote_name: str | None) -> Prepared:
        """Fingerprint the mart's rows and define the view of this run's file.

        `waiting_remote_name` is the remote file name when a file of that name is still waiting on
        the destination (not yet picked up); its keys are then carried again.
        """
        snapshot = _temp_name("feeds_snapshot", feed.name)
        view = _temp_name("feeds_file", feed.name)
        columns = ", ".join(_quote(column) for column in feed.column_names)
        key = " || chr(31) || ".join(f"coalesce(cast({_quote(part)} as varchar), '')" for part in feed.key)
        self.connection.execute(
            f"create or replace temp table {snapshot} as "
            f"select {columns}, {key} as __row_key, hash({columns}) as __row_hash from {feed.relation}"
        )
        name = _literal(feed.name)
        changed = (
            f"not exists (select 1 from feeds_state.delivered_rows as delivered where delivered.feed = {name} "
            f"and delivered.row_key = snapshot.__row_key and delivered.row_hash = snapshot.__row_hash)"
        )
        waiting = (
            f"snapshot.__row_key in (select row_key from feeds_state.waiting_rows where feed = {name} "
            f"and remote_name = {_literal(waiting_remote_name)})"
            if waiting_remote_name
            else "false"
        )
        keep = "true" if mode == "full" else f"({changed}) or ({waiting})"
        self.connection.execute(
            f"create or replace temp table {view}_rows as select * from {snapshot} as snapshot where {keep}"
        )
        self.connection.execute(f"create or replace temp view {view} as select {columns} from {view}_rows")
        total, changed_rows, file_rows = self.connection.execute(
            f"select (select count(*) from {snapshot}), "
            f"(select count(*) from {snapshot} as snapshot where {changed}), "
            f"(select count(*) from {view}_rows)"
        ).fetchone()
        has_state = self.connection.execute(
            f"select count(*) > 0 from feeds_state.deliveries where feed = {name}"
        ).fetchone()[0]
        last_full = self.connection.execute(
            f"select rows from feeds_state.deliveries where feed = {name} and mode = 'full' "
            "order by delivered_at desc limit 1"
        ).fetchone()
        return Prepared(
            feed=feed.name,
            mode=mode,
            relation=view,
            total_rows=int(total),
            changed_rows=int(total if mode == "full" else changed_rows),
            file_rows=int(file_rows),
            has_state=bool(has_state),
            last_full_rows=int(last_full[0]) if last_full else None,
        )

    def commit(
        self,
        run_id: str,
        prepared: Prepared,
        remote_name: str,
        remote_path: str | None,
        sha256: str | None,
        replaced_waiting: bool,
    ) -> None:
        """Record that this run's file of the feed is confirmed under its final remote name."""
        rows = f"{_temp_name('feeds_file', prepared.feed)}_rows"
        name = _literal(prepared.feed)
        remote = _literal(remote_name)
        self.connection.execute("begin transaction")
        try:
            self.connection.execute(
                f"insert or replace into feeds_state.delivered_rows (feed, row_key, row_hash, run_id) "
                f"select {name}, __row_key, __row_hash, {_literal(run_id)} from {rows}"
            )
            if not replaced_waiting:
                # The previous file of this name was picked up: only this file's keys are waiting now.
                self.connection.execute(
                    f"delete from feeds_state.waiting_rows where feed = {name} and remote_name = {remote}"
                )
            self.connection.execute(
                f"insert or ignore into feeds_state.waiting_rows (feed, remote_name, row_key) "
                f"select {name}, {remote}, __row_key from {rows}"
            )
            self.connection.execute(
                "insert into feeds_state.deliveries (run_id, feed, mode, rows, remote_name, remote_path, sha256) "
                "values (?, ?, ?, ?, ?, ?, ?)",
                [run_id, prepared.feed, prepared.mode, prepared.file_rows, remote_name, remote_path, sha256],
            )
            self.connection.execute("commit")
        except BaseException:
            self.connection.execute("rollback")
            raise


def _temp_name(prefix: str, feed: str) -> str:
    return f"{prefix}_{''.join(char if char.isalnum() else '_' for char in feed)}"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(value: str | None) -> str:
    if value is None:
        return "null"
    return "'" + value.replace("'", "''") + "'"
