"""Checks before a run touches anything: are the raw tables there and the DuckDB file free (before
dbt), and did the build that left the marts pass (before `--skip-build` delivers them)?

Like the rest of the run, this raises runner.errors classes; the CLI turns them into exit codes.
"""

from __future__ import annotations

from pathlib import Path

from runner import warehouse
from runner.build import DbtProject
from runner.errors import ConfigError, DataTestsFailed
from runner.record import RunRecord, RunStore
from runner.reporter import Reporter
from runner.warehouse import target as targets
from runner.warehouse.target import Target


def check_sources(duckdb_path: Path, project: DbtProject, selection: list[str], target: Target | None = None) -> None:
    """Before dbt starts: the DuckDB file exists, no other process holds it (exit 4, as at export),
    and it has every raw table the selection reads (exit 2). Without this dbt creates an empty
    file, fails on the lock, or prints one Catalog Error per staging model. On a warehouse target
    the raw tables are looked up there (an unreachable server or a wrong password is exit 2 too)."""
    embedded = target is None or target.embedded
    if embedded:
        warehouse.require_file(duckdb_path)
    sources = project.sources(selection)
    wanted = [(table.schema, table.identifier) for table in sources]
    if embedded:
        with warehouse.connect(duckdb_path) as connection:
            missing = set(warehouse.missing_tables(connection, wanted))
    else:
        missing = set(targets.missing_tables(target, wanted))
    absent = [table for table in sources if (table.schema, table.identifier) in missing]
    if not absent:
        return
    problems = []
    for schema in sorted({table.schema for table in absent}):
        names = sorted(table.identifier for table in absent if table.schema == schema)
        needed = sum(1 for table in sources if table.schema == schema)
        variables = sorted({table.schema_var for table in absent if table.schema == schema and table.schema_var})
        origin = f" (dbt var {', '.join(variables)})" if variables else ""
        lacks = f"has none of the {needed}" if len(names) == needed else f"lacks {len(names)} of {needed}"
        problems.append(f"schema {schema!r}{origin} {lacks} raw tables the selected models read: {', '.join(names)}")
    variables = sorted({table.schema_var for table in absent if table.schema_var})
    hint = ""
    if variables:
        hint = f", or set {' / '.join(variables)} under vars: in dbt_project.yml to the schema that holds them"
    where = f"DuckDB file {duckdb_path}" if embedded else target.describe()
    raise ConfigError(
        f"{where}: " + "; ".join(problems)
        + f". Load the raw tables there (`feeds demo-data` writes demo ones){hint}"
    )


def check_last_build(store: RunStore, record: RunRecord, upload: bool, force: bool, reporter: Reporter) -> None:
    """Without a build the marts are what the last build left: refuse to deliver them when that build
    failed (a model that failed its tests is still rebuilt), unless --force; an export only warns."""
    last = store.last_build(exclude=record.run_id)
    if last is None or last.dbt.get("success", True):
        return
    problem = (
        f"the last build (run {last.run_id}, {last.command}, started {last.started_at}) failed, so the marts "
        "may hold rows that failed their data tests"
    )
    if not upload:
        reporter.warn(f"{problem}; exporting them as they are (nothing is delivered)")
        return
    if force:
        reporter.warn(f"{problem}; delivering them anyway (--force, noted in the run record)")
        # Written at the run's next checkpoint, with the plan.
        record.options["forced_after_failed_build"] = last.run_id
        return
    for entry in record.feeds.values():
        entry.status = "skipped"
    raise DataTestsFailed(
        f"{problem}; nothing was exported or delivered. Fix the data and run without --skip-build, "
        "or pass --force to deliver the marts as they are"
    )
