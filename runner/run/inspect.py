"""The read-only commands' work: `feeds check` (configuration, dbt project, marts, destination),
`feeds preview` (a mart's first rows) and the feed choice of `feeds validate`. They return plain
values; the CLI renders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from runner import warehouse
from runner.config import Settings
from runner.deliver import make_destination
from runner.errors import ConfigError
from runner.feed import Feed
from runner.run.paths import Paths
from runner.run.plan import choose_feeds, effective_feed, feed_file_matcher, feed_spec
from runner.validate import Validation, feed_for_file, validate
from runner.warehouse import target as targets


def check(settings: Settings, destination: bool = True) -> Iterator[tuple[str, str]]:
    """Check each part in turn, yielding ("ok", what) as each passes and ("leftover", name) for each
    temporary an interrupted run left at the destination; a failing part raises its error."""
    paths = Paths.of(settings)
    declared = paths.dbt_project().feeds()
    chosen = choose_feeds(settings, declared, None)
    yield "ok", f"dbt project: {len(declared)} feeds declared ({', '.join(feed.name for feed in declared)})"
    target = paths.warehouse()
    if not target.embedded:
        # Connects (exit 2 naming target, host and database when it cannot) and looks the marts up.
        absent = targets.missing_tables(target, [targets.split_relation(feed.relation) for feed in chosen])
        if absent:
            names = ", ".join(f"{schema}.{name}" for schema, name in absent)
            raise ConfigError(f"{target.describe()}: marts not built yet: {names}; run `feeds build --target {target.name}`")
        yield "ok", f"{target.describe()}: connected; marts {', '.join(feed.model for feed in chosen)} present"
    else:
        yield from _check_duckdb(paths, chosen)
    if not destination:
        return
    with make_destination(settings) as opened:
        for line in opened.check():
            yield "ok", line
        for line in opened.leftovers(feed_file_matcher([feed_spec(settings, feed) for feed in chosen])):
            yield "leftover", line


def _check_duckdb(paths: Paths, chosen: list[Feed]) -> Iterator[tuple[str, str]]:
    with warehouse.connect(paths.duckdb) as connection:
        missing = [feed.model for feed in chosen if not warehouse.relation_exists(connection, feed.relation)]
        if missing:
            raise ConfigError(f"DuckDB file {paths.duckdb}: marts not built yet: {', '.join(missing)}; run `feeds build`")
        counts = {feed.name: warehouse.row_count(connection, feed) for feed in chosen}
    yield "ok", f"DuckDB {paths.duckdb}: " + ", ".join(f"{name} {n} rows" for name, n in counts.items())


@dataclass
class Preview:
    feed: Feed
    columns: list[str]
    rows: list[tuple[Any, ...]]


def preview(settings: Settings, name: str, limit: int) -> Preview:
    """The first `limit` rows of a feed's mart, by key, on the run's dbt target."""
    paths = Paths.of(settings)
    (chosen,) = choose_feeds(settings, paths.dbt_project().feeds(), [name])
    target = paths.warehouse()
    if not target.embedded:
        columns, rows = targets.preview(target, chosen.relation, chosen.model, chosen.key, limit)
    else:
        with warehouse.connect(paths.duckdb) as connection:
            columns, rows = warehouse.preview(connection, chosen, limit)
    # Only the feed's columns: an incremental mart also holds internal ones (entity, watermark).
    shown = [index for index, column in enumerate(columns) if column in chosen.column_names]
    return Preview(chosen, [columns[index] for index in shown], [tuple(row[index] for index in shown) for row in rows])


def validate_file(settings: Settings, file: Path, feed: str | None, limit: int) -> tuple[Feed, Validation]:
    """Check a file against its feed's contract: the feed named, else the one its file name shows."""
    if not file.is_file():
        raise ConfigError(f"file {file} does not exist")
    declared = Paths.of(settings).dbt_project().feeds()
    if feed:
        (chosen,) = choose_feeds(settings, declared, [feed])
    else:
        named = file
        if settings.sample_prefix and file.name.startswith(settings.sample_prefix):
            named = file.with_name(file.name[len(settings.sample_prefix):])  # a `feeds sample` file
        chosen = feed_for_file(named, [effective_feed(settings, item) for item in declared])
    return chosen, validate(file, chosen, settings.feed_format(chosen.name), limit=limit)
