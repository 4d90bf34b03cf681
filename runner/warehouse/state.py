"""Delivery state: what each feed last delivered, row by row, so delta files carry every row that is
new or changed since, and nothing is skipped if a run dies half-way.

The state lives in its own DuckDB file (`<state_dir>/state.duckdb`), attached to the warehouse
connection as `feeds_state`, so rebuilding or replacing the warehouse never loses it. For each
delivered row it keeps the row's key and a fingerprint (a 64-bit hash of every column's value); a
row whose fingerprint differs from the delivered one is sent again. That catches changes that arrive
through joined tables (a fulfillment changing an order's status), which a source `updated_at`
watermark would miss. A DuckDB upgrade that changed `hash()` would make the rows it fingerprints
look changed: rows a build rewrote are sent again (harmless), and when every row is fingerprinted
(below) the delta gate refuses, and one `--force` run re-establishes the state.

Only rows a build rewrote are fingerprinted. Every row of an incremental mart carries `built_at`,
when the dbt invocation that last wrote it started (macros/incremental.sql); a build never changes a
row in place, it deletes it and inserts the new one with its own `built_at`. So a row whose
`built_at` was already in the mart when the feed's last committed delivery was prepared was there
with the same values, and after that commit `delivered_rows` agrees with it (a changed row was sent
and recorded, an unchanged one already was). `delivered_builds` keeps, per feed, the distinct
`built_at` values of the mart at the prepare of its last committed delivery; a delta fingerprints
only the rows whose `built_at` is not among them, plus the rows of carried keys. It is the set of
values, not the newest: a clock stepped back gives a build an older `built_at` than earlier ones,
and its rows must still be compared. The set is trusted only as it was taken: the last delivery
records what the fingerprints hashed (key and columns) and how many delivered rows the feed had;
if either differs now (a changed feed definition, a state edited or partly lost), or there is no
set yet (state from before, a mart without `built_at`), every row is fingerprinted, once. A mart
copied from a warehouse keeps its `built_at` (a Spark build rewrites every row each time, so there
every row is new). A file holds, of each key hash it sends, the rows in that scope: another row
outside it with the same key hash (a 64-bit collision, or a duplicate key the marts' tests refuse)
is already delivered with its values, and if it is rewritten later it is compared then; it may be
sent again, never skipped.

The state of a feed advances only in `commit`, which the pipeline calls once the feed's file is
confirmed under its final remote name: a run killed anywhere before that leaves the state as it was,
and the next run sends those rows again (Listrak upserts by key, so a repeat is harmless).

Files still waiting on the server: Listrak picks files up on its own schedule, so a file may replace
one of the same name that has not been imported yet. While the file of the feed's last delivery
under a name is still there, the next file under that name also carries that delivery's keys (with
their current values), so a replacement never loses rows, even when files of other names (a
backfill's) were delivered in between. Those keys need no table of their own: every
key a delivery sent is stamped with its run id in `delivered_rows`, and a file that replaced a
waiting one re-stamps all of that file's keys, those it carried and those it could not.

Keys are stored as a 64-bit hash of the key's text, like the fingerprints: half the bytes of the
text and about half the commit time. Two keys with the same hash can only make rows be sent again,
never skipped: a row is left out only when a delivered row with the same key hash also has the
same fingerprint, or when it was delivered before and no build has rewritten it since.

The tables have no primary-key indexes on purpose: DuckDB's upserts through an ART index cost
seconds per million rows, where delete-then-insert in one transaction costs a fraction of that.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runner.feed import Feed
from runner.warehouse.connection import Connection
from runner.warehouse.sql import identifier, literal

SCHEMA = """
create table if not exists feeds_state.delivered_rows (
    feed varchar not null,
    row_key ubigint not null,
    row_hash ubigint not null,
    run_id varchar not null
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
-- Kept the keys of waiting files before they were derived from delivered_rows (see above).
drop table if exists feeds_state.waiting_rows;
create table if not exists feeds_state.delivered_builds (
    feed varchar not null,
    built_at timestamp not null
);
-- What the feed's delivered_builds were taken with (see above); null: no delivered_builds.
alter table feeds_state.deliveries add column if not exists hashed varchar;
alter table feeds_state.deliveries add column if not exists state_rows bigint;
"""

#: The internal column of every incremental mart row: when the dbt invocation that last wrote the
#: row started (macro feeds_built_at, macros/incremental.sql).
BUILT_AT = "built_at"


@dataclass(frozen=True)
class Prepared:
    """One feed's rows for this run, fingerprinted, and the relation its file is exported from."""

    feed: str
    mode: str  # full | delta
    #: The relation with exactly the feed's columns and the rows of this run's file.
    relation: str
    #: Temporary table of (row_key, row_hash) of the rows in the file, for the commit.
    sent: str
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
    #: The run whose still-waiting file this one replaces and whose keys it carries, if any.
    carried_run: str | None = None
    #: Rows fingerprinted: in a delta, those of builds not delivered yet and of carried keys (every
    #: row when the state cannot tell); in full mode every row, hashed at the commit.
    fingerprinted_rows: int = 0
    #: Temporary table of the mart's distinct built_at values now, for the commit; None when the
    #: mart has no built_at column.
    builds: str | None = None
    #: What a fingerprint hashes (the key and the columns), recorded with delivered_builds.
    hashed: str = ""


class DeliveryState:
    """The one owner of delivery state. Use with an open warehouse connection."""

    def __init__(self, connection: Connection, path: Path) -> None:
        self.connection = connection
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        attached = {row[0] for row in connection.execute("select database_name from duckdb_databases()").fetchall()}
        if "feeds_state" not in attached:
            connection.execute(f"attach {literal(str(path))} as feeds_state")
        connection.execute(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """State written by feeds 0.1.0 kept keys as text: hash them as the key expression now does."""
        (key_type,) = self.connection.execute(
            "select data_type from duckdb_columns() where database_name = 'feeds_state' "
            "and table_name = 'delivered_rows' and column_name = 'row_key'"
        ).fetchone()
        if key_type == "VARCHAR":
            self.connection.execute(
                "alter table feeds_state.delivered_rows alter row_key set data type ubigint using hash(row_key)"
            )

    def prepare(self, feed: Feed, mode: str, waiting_remote_name: str | None) -> Prepared:
        """Fingerprint the mart's rows and decide which go into this run's file.

        `waiting_remote_name` is the remote file name when a file of that name is still waiting on
        the destination (not yet picked up); the keys of the feed's last delivery under that name
        are carried again.
        """
        name = literal(feed.name)
        fingerprints = _temp_name("feeds_fingerprints", feed.name)
        sent = _temp_name("feeds_sent", feed.name)
        hashed = _hashed(feed)
        # `deliveries` is append-only, so rowid orders the deliveries even if the clock stepped back
        # (and, being unique, makes the last run and its file name come from one row).
        # The waiting file is the last delivery under its name, even if files of other names (a
        # backfill's) were delivered since; its keys not sent again since still carry its run id.
        has_state, last_full, carried_run = self.connection.execute(
            f"select count(*) > 0, arg_max(rows, rowid) filter (where mode = 'full'), "
            f"arg_max(run_id, rowid) filter (where remote_name = {literal(waiting_remote_name)}) "
            f"from feeds_state.deliveries where feed = {name}"
        ).fetchone()
        last_full_rows = None if last_full is None else int(last_full)
        builds = None
        if _has_built_at(self.connection, feed.relation):
            builds = _temp_name("feeds_builds", feed.name)
            self.connection.execute(
                f"create or replace temp table {builds} as "
                f"select distinct {BUILT_AT} from {feed.relation} where {BUILT_AT} is not null"
            )
        if mode == "full" or not has_state:
            # Every row goes, so nothing is compared and the file is the mart itself. The fingerprints
            # are a view, computed only if the file is delivered and committed. Until then this
            # process holds the DuckDB file open read-write, which locks every other process out,
            # so the mart is still exactly what was exported.
            sent = _temp_name("feeds_sent_all", feed.name)  # a view; the delta's `sent` is a table
            self.connection.execute(f"create or replace temp view {sent} as {_fingerprint_sql(feed)}")
            total = self.connection.execute(f"select count(*) from {feed.relation}").fetchone()[0]
            return Prepared(feed.name, mode, feed.relation, sent, total, total, total, bool(has_state),
                            last_full_rows, fingerprinted_rows=total, builds=builds, hashed=hashed)
        waiting = None
        if carried_run:
            waiting = _temp_name("feeds_waiting", feed.name)
            self.connection.execute(
                f"create or replace temp table {waiting} as select distinct row_key from feeds_state.delivered_rows "
                f"where feed = {name} and run_id = {literal(carried_run)}"
            )
        scope = self._scope(feed, builds, hashed, waiting)
        self.connection.execute(f"create or replace temp table {fingerprints} as {_fingerprint_sql(feed)} where {scope}")
        total, fingerprinted = self.connection.execute(
            f"select (select count(*) from {feed.relation}), (select count(*) from {fingerprints})"
        ).fetchone()
        carried = f"select row_key from {waiting}" if waiting else "select null::ubigint as row_key where false"
        # Of the delivered rows, only those of the keys fingerprinted when they are few: DuckDB then
        # hashes the few, not the feed's whole state (and the other way round when they are many).
        few = f"and row_key in (select row_key from {fingerprints})" if fingerprinted * 4 < total else ""
        # A row is unchanged when a delivered row has its key hash and its fingerprint (a left join on
        # the distinct delivered pairs: duplicates do not multiply it, and unlike `not exists` it
        # spills). The file holds every row in scope of each key hash it sends, so the key filter
        # below selects exactly `sent`.
        self.connection.execute(
            f"""create or replace temp table {sent} as
            with delivered as (
                select row_key, row_hash from feeds_state.delivered_rows where feed = {name} {few}
            ),
            compared as (
                select
                    fingerprints.row_key,
                    fingerprints.row_hash,
                    known.row_key is null as changed
                from {fingerprints} as fingerprints
                left join (select distinct row_key, row_hash from delivered) as known
                    on known.row_key = fingerprints.row_key and known.row_hash = fingerprints.row_hash
            ),
            keys as (
                select row_key from compared where changed
                union
                {carried}
            )
            select row_key, row_hash, changed from compared
            where row_key in (select row_key from keys)"""
        )
        # `sent` holds what the file and the commit need; every row's fingerprint would otherwise be
        # kept, in memory or spilled, for the rest of the run (16 bytes a row: 365 MB for the 22.8M
        # order items at 10M orders; DuckDB does spill the table, as 2.3M rows under a 30MB cap show).
        self.connection.execute(f"drop table {fingerprints}")
        changed, file_rows = self.connection.execute(
            f"select count(*) filter (where changed), count(*) from {sent}"
        ).fetchone()
        relation = _temp_name("feeds_file", feed.name)
        self.connection.execute(
            f"create or replace temp view {relation} as select {_columns(feed)} from {feed.relation} "
            f"where ({scope}) and hash({_key_expression(feed)}) in (select row_key from {sent})"
        )
        return Prepared(feed.name, mode, relation, sent, int(total), int(changed), int(file_rows), True,
                        last_full_rows, carried_run, fingerprinted_rows=int(fingerprinted), builds=builds,
                        hashed=hashed)

    def _scope(self, feed: Feed, builds: str | None, hashed: str, waiting: str | None) -> str:
        """The condition on mart rows that may differ from the delivered state: those written by a
        build the feed's last committed delivery did not see, and those of carried keys; every row
        when the state cannot tell (no built_at column, or delivered_builds not taken with this
        state: none yet, other fingerprinted columns, or delivered_rows changed since)."""
        name = literal(feed.name)
        if builds is None:
            return "true"
        last = self.connection.execute(
            f"select hashed, state_rows from feeds_state.deliveries where feed = {name} order by rowid desc limit 1"
        ).fetchone()
        if last is None or last[0] != hashed or last[1] is None:
            return "true"
        (state_rows,) = self.connection.execute(
            f"select count(*) from feeds_state.delivered_rows where feed = {name}"
        ).fetchone()
        if state_rows != last[1]:
            return "true"
        new_builds = _temp_name("feeds_new_builds", feed.name)
        self.connection.execute(
            f"create or replace temp table {new_builds} as select {BUILT_AT} from {builds} "
            f"except select {BUILT_AT} from feeds_state.delivered_builds where feed = {name}"
        )
        scope = f"({BUILT_AT} is null or {BUILT_AT} in (select {BUILT_AT} from {new_builds}))"
        if waiting:
            scope += f" or hash({_key_expression(feed)}) in (select row_key from {waiting})"
        return scope

    def commit(
        self,
        run_id: str,
        prepared: Prepared,
        remote_name: str,
        remote_path: str | None,
        sha256: str | None,
    ) -> None:
        """Record that this run's file of the feed is confirmed under its final remote name."""
        name = literal(prepared.feed)
        sent = prepared.sent
        self.connection.execute("begin transaction")
        try:
            if prepared.mode == "full":
                # A full file is the feed's whole truth: the state becomes exactly its rows.
                self.connection.execute(f"delete from feeds_state.delivered_rows where feed = {name}")
            else:
                self.connection.execute(
                    f"delete from feeds_state.delivered_rows where feed = {name} "
                    f"and row_key in (select row_key from {sent})"
                )
            self.connection.execute(
                f"insert into feeds_state.delivered_rows select {name}, row_key, row_hash, {literal(run_id)} from {sent}"
            )
            if prepared.carried_run:
                # This file replaced a waiting one. Keys of that file this one could not carry (gone
                # from the mart for now, e.g. quarantined) stay waiting: were they back unchanged,
                # nothing else would send them before the importer saw this file.
                self.connection.execute(
                    f"update feeds_state.delivered_rows set run_id = {literal(run_id)} "
                    f"where feed = {name} and run_id = {literal(prepared.carried_run)}"
                )
            # delivered_rows now agrees with every row of the mart as prepared: its builds are delivered.
            self.connection.execute(f"delete from feeds_state.delivered_builds where feed = {name}")
            hashed, state_rows = None, None
            if prepared.builds is not None:
                self.connection.execute(
                    f"insert into feeds_state.delivered_builds select {name}, {BUILT_AT} from {prepared.builds}"
                )
                (state_rows,) = self.connection.execute(
                    f"select count(*) from feeds_state.delivered_rows where feed = {name}"
                ).fetchone()
                hashed = prepared.hashed
            self.connection.execute(
                "insert into feeds_state.deliveries "
                "(run_id, feed, mode, rows, remote_name, remote_path, sha256, hashed, state_rows) "
                "values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, prepared.feed, prepared.mode, prepared.file_rows, remote_name, remote_path, sha256,
                 hashed, state_rows],
            )
            self.connection.execute("commit")
        except BaseException:
            self.connection.execute("rollback")
            raise


def _has_built_at(connection: Connection, relation: str) -> bool:
    """Whether the relation has a built_at column of type TIMESTAMP, as every incremental mart has
    (a warehouse's marts copied to the local file keep it; runner.warehouse.target)."""
    columns = connection.execute(f"select * from {relation} limit 0").description or []
    return any(column[0] == BUILT_AT and str(column[1]) == "TIMESTAMP" for column in columns)


def _fingerprint_sql(feed: Feed) -> str:
    return f"select hash({_key_expression(feed)}) as row_key, hash({_columns(feed)}) as row_hash from {feed.relation}"


def _hashed(feed: Feed) -> str:
    return f"key {_key_expression(feed)}; columns {_columns(feed)}"


def _key_expression(feed: Feed) -> str:
    return " || chr(31) || ".join(f"coalesce(cast({identifier(part)} as varchar), '')" for part in feed.key)


def _columns(feed: Feed) -> str:
    return ", ".join(identifier(column) for column in feed.column_names)


def _temp_name(prefix: str, feed: str) -> str:
    return f"{prefix}_{''.join(char if char.isalnum() else '_' for char in feed)}"
