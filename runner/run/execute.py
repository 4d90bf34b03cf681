"""The one-way run behind `feeds run`, `feeds export` and `feeds build`: build -> gate -> export ->
deliver -> record.

`run` resolves the settings once (runner.run.plan) inside the run's record and lock; every step
after it gets that plan. Exports and deliveries overlap: a finished file uploads while the next one
is exported. Failures are raised as runner.errors classes after the run record has been written.
"""

from __future__ import annotations

import shutil
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator, Sequence

from runner import incremental, warehouse
from runner.build import BuildSummary, selection_for
from runner.config import Settings
from runner.deliver import Destination, DeliveryResult, Upload
from runner.errors import ConfigError, DataTestsFailed, DeliveryError, FeedsError
from runner.faults import checkpoint as failpoint
from runner.hashing import hash_file
from runner.lock import run_lock
from runner.record import FeedRecord, RunRecord, RunStore, file_stamp, record_hash
from runner.reporter import Reporter
from runner.run import preflight
from runner.run.gates import check_gates, fingerprint
from runner.run.paths import Paths
from runner.run.plan import FeedPlan, RunOptions, RunPlan, feed_file_matcher, resolve
from runner.run.progress import Progress
from runner.shopify_api import SOURCE_COLUMN_ERROR
from runner.warehouse import export as export_step
from runner.warehouse import target as targets
from runner.warehouse.state import DeliveryState



def run(settings: Settings, options: RunOptions, reporter: Reporter) -> RunRecord:
    """Build, gate, export and deliver, one run at a time; the run record is written whatever happens."""
    paths = Paths.of(settings)
    store = RunStore(paths.runs_dir)
    progress = Progress(store.start("run", options.to_json()), store, reporter)
    with store.recording(progress.record):
        with run_lock(paths.state_dir, progress.record.run_id, reporter.warn):
            target = paths.warehouse()
            if target.embedded:
                warehouse.require_file(paths.duckdb)  # before dbt, which would create an empty file
            reporter.stage("parse", str(paths.project_dir))
            plan = resolve(settings, options, paths.dbt_project().feeds(), target)
            _execute(plan, progress)
    remove_old_outputs(paths.output_dir, plan.keep_runs)
    return progress.record


def _execute(plan: RunPlan, run: Progress) -> None:
    record, reporter, paths = run.record, run.reporter, plan.paths
    record.run_date = plan.run_date.isoformat()
    for spec in plan.feeds:
        record.feeds[spec.name] = FeedRecord(feed=spec.name)
    if plan.build:
        _build(plan, run)
    else:
        preflight.check_last_build(run.store, record, plan.destination is not None, plan.force, reporter)

    destination = plan.destination() if plan.destination is not None else None
    with _marts(plan, run) as (connection, source), _opened(destination), warehouse.export_errors(source):
        if destination is not None:
            record.destination = f"{destination.kind}:{destination.describe()}"
            # Before planning, so a waiting file an interrupted replace moved aside is back under its name,
            # where the plan sees it waiting and carries its rows. Every declared feed's leftovers go.
            destination.tidy(feed_file_matcher(plan.declared))
        state = DeliveryState(connection, paths.state_file)
        feeds = fingerprint(plan, run, connection, state, destination)
        check_gates(plan, feeds, run)
        run.checkpoint("planned")
        reporter.stage("export", str(paths.output_dir / record.run_id))
        if destination is None:
            export_only(plan, feeds, connection, run)
            return
        export_and_deliver(plan, feeds, connection, state, destination, run)


@contextmanager
def _marts(plan: RunPlan, run: Progress) -> Iterator[tuple[warehouse.Connection, Path | str]]:
    """The DuckDB database to export from and what it is (for messages): the embedded file, or a
    local copy of a warehouse's marts and rejects models (runner.warehouse.target), so every later
    step runs the same on any target."""
    if plan.embedded:
        with warehouse.connect(plan.paths.duckdb) as connection:
            yield connection, plan.paths.duckdb
        return
    run.reporter.stage("read", plan.target.describe())
    # A run without a destination that writes full files reads and moves no delivery state: no built_at.
    built_at = plan.destination is not None or not plan.full
    with targets.stage_marts(plan.target, [spec.feed for spec in plan.feeds], plan.paths.state_dir,
                             built_at=built_at) as staged:
        yield staged.connection, staged.source


def _build(plan: RunPlan, run: Progress) -> None:
    """dbt build of the chosen feeds' upstream (or --select); warnings other than quarantine reported."""
    project, reporter = plan.paths.dbt_project(), run.reporter
    selection = list(plan.select or selection_for([spec.feed for spec in plan.feeds]))
    preflight.check_sources(plan.paths.duckdb, project, selection, plan.target)
    reporter.stage("build", "dbt build " + " ".join(selection))

    def on_node(name: str, resource_type: str, status: str) -> None:
        reporter.node(name, resource_type, status)
        failpoint("build")

    summary, refresh = incremental.build(project, selection, plan.paths.state_dir, plan.target, plan.full_refresh,
                                         on_node=on_node, unit_tests=plan.unit_tests)
    run.record.dbt = {**summary.to_json(), "incremental": refresh.record(summary.built),
                      "test_scope": refresh.test_scope.record(), "row_rules": refresh.row_rules.record(),
                      "kept_views": refresh.kept}
    run.checkpoint("built")
    if not summary.success:
        for feed in run.record.feeds.values():
            feed.status = "skipped"
        raise build_failure(summary, plan.paths.duckdb)
    rejects_models = {spec.feed.rejects_model for spec in plan.feeds}
    for warning in summary.warnings:
        # Quarantined rows are reported per feed, with reasons, at export.
        if warning.model not in rejects_models:
            reporter.warn(warning.describe())


def build(settings: Settings, select: Sequence[str] | None, reporter: Reporter, full_refresh: bool = False) -> RunRecord:
    """`feeds build`: dbt build (unit tests included) on the selection, recorded as a run, so a later
    `--skip-build` knows whether the marts passed their tests."""
    paths = Paths.of(settings)
    store = RunStore(paths.runs_dir)
    record = store.start("build", {"select": list(select) if select else None, "full_refresh": full_refresh})
    # The run lock too: a build changes the incremental tables and their fingerprints as a run does.
    with store.recording(record), run_lock(paths.state_dir, record.run_id, reporter.warn):
        project = paths.dbt_project()
        selection = list(select or selection_for(project.feeds()))
        target = paths.warehouse()
        preflight.check_sources(paths.duckdb, project, selection, target)
        reporter.stage("build", "dbt build " + " ".join(selection))
        summary, refresh = incremental.build(project, selection, paths.state_dir, target, full_refresh,
                                             on_node=reporter.node)
        record.dbt = {**summary.to_json(), "incremental": refresh.record(summary.built),
                      "test_scope": refresh.test_scope.record(), "row_rules": refresh.row_rules.record()}
        for warning in summary.warnings:
            reporter.warn(warning.describe())
        if not summary.success:
            raise build_failure(summary, paths.duckdb)
    return record


def build_failure(summary: BuildSummary, duckdb_path: Path) -> FeedsError:
    """The error for a failed build: dbt's lock error on the DuckDB file is the held-file error of
    every other command (exit 4), anything else failed data (exit 1)."""
    texts = [summary.error or ""] + [failure.message or "" for failure in summary.failures]
    held = next((text for text in texts if "could not set lock" in text.lower()), None)
    if held is not None:
        reason = next(line.strip() for line in held.splitlines() if "could not set lock" in line.lower())
        return warehouse.file_in_use(duckdb_path, reason)
    # A raw table lacking a column the feeds need (macro shopify_source_select) is configuration.
    missing = next((line.strip() for text in texts for line in text.splitlines() if SOURCE_COLUMN_ERROR in line), None)
    if missing is not None:
        return ConfigError(missing[missing.index(SOURCE_COLUMN_ERROR):])
    return DataTestsFailed(build_failure_message(summary))


def export_only(plan: RunPlan, feeds: list[FeedPlan], connection: warehouse.Connection, run: Progress) -> None:
    """Export the feeds one by one; each file is hashed in a thread while DuckDB writes the next."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hash") as pool:
        hashing: dict[Future[tuple[int, str]], FeedPlan] = {}
        try:
            for feed_plan in _largest_first(feeds):
                upload = export_one(plan, feed_plan, connection, run)
                if upload is not None and upload.sha256 is None:
                    hashing[pool.submit(hash_file, upload.local_path)] = feed_plan
        finally:
            # The hashes reach the file with the record's final write (RunStore.recording).
            for future, feed_plan in hashing.items():
                try:
                    run.record.feeds[feed_plan.spec.name].sha256 = future.result()[1]
                except OSError as exc:  # the file went away; say so, but keep any export error first
                    run.reporter.warn(f"{feed_plan.spec.name}: could not hash {feed_plan.file_name}: {exc.strerror}")


def export_and_deliver(
    plan: RunPlan,
    feeds: list[FeedPlan],
    connection: warehouse.Connection,
    state: DeliveryState,
    destination: Destination,
    run: Progress,
) -> None:
    """Export the feeds one by one while finished files are already uploading (and being hashed as
    they are read); commit each feed's state as soon as its own file is confirmed. DuckDB is used
    from this thread only."""
    run.reporter.stage("deliver", f"{destination.kind}: {destination.describe()}")
    failed: list[str] = []
    # The destination's own workers deliver (up to its concurrency at once) while the next feed exports.
    pending: dict[Future[DeliveryResult], FeedPlan] = {}
    try:
        for feed_plan in _largest_first(feeds):
            upload = export_one(plan, feed_plan, connection, run)
            if upload is not None:
                pending[destination.submit(upload, run.reporter.transfer)] = feed_plan
            for future in [future for future in pending if future.done()]:
                _settle(future.result(), pending.pop(future), state, run, failed)
    finally:
        # Even when an export failed, files already on their way are settled and recorded.
        for future in as_completed(pending):
            _settle(future.result(), pending[future], state, run, failed)
    if failed:
        raise DeliveryError("delivery failed for " + "; ".join(failed))


def _largest_first(feeds: list[FeedPlan]) -> list[FeedPlan]:
    """Largest file first: its upload or hash, the longest, runs while the smaller ones export."""
    return sorted(feeds, key=lambda feed_plan: -feed_plan.prepared.file_rows * len(feed_plan.feed.columns))


def _settle(result: DeliveryResult, feed_plan: FeedPlan, state: DeliveryState, run: Progress, failed: list[str]) -> None:
    """Record one file's delivery; advance the feed's state only if it is confirmed."""
    record = run.record
    entry = record.feeds[feed_plan.spec.name]
    run.reporter.delivered(result)
    if entry.apply_delivery(result):
        failpoint("commit")
        state.commit(record.run_id, feed_plan.prepared, feed_plan.file_name, result.remote_path, entry.sha256)
        entry.state_committed = True
    else:
        failed.append(f"{result.local_path.name}: {result.error}")
        record_hash(entry, result.local_path)
    run.checkpoint("delivered")


@contextmanager
def _opened(destination: Destination | None) -> Iterator[None]:
    if destination is None:
        yield
        return
    with destination:
        yield


def export_one(plan: RunPlan, feed_plan: FeedPlan, connection: warehouse.Connection, run: Progress) -> Upload | None:
    """Export one planned feed into `<output_dir>/<run_id>/`; return what to deliver (None: nothing).
    Rows go in key order from the embedded DuckDB file; a warehouse's copy leaves row order free."""
    out_dir = plan.paths.output_dir / run.record.run_id
    spec, prepared = feed_plan.spec, feed_plan.prepared
    entry = run.record.feeds[spec.name]
    if prepared.file_rows == 0 and prepared.mode == "delta" and spec.empty_delta == "skip":
        entry.status = "unchanged"
        return None
    try:
        # The plan has just counted the rows; the SHA-256 is computed by whoever reads the file next.
        result = export_step.export_feed(
            connection, replace(spec.feed, relation=prepared.relation), spec.format,
            out_dir, feed_plan.file_name, expected_rows=prepared.file_rows, digest=False,
            sort=plan.embedded,
        )
    except FeedsError as exc:
        # Written with the record's final write (RunStore.recording), as the error ends the run.
        entry.status, entry.error = "failed", str(exc)
        raise
    entry.status = "exported"
    entry.rows, entry.bytes, entry.sha256 = result.rows, result.bytes, result.sha256
    entry.local_path, entry.export_seconds = str(result.path), round(result.seconds, 3)
    entry.file_stamp = file_stamp(result.path)
    entry.dropped = result.dropped
    if result.dropped:
        run.reporter.warn(dropped_message(spec.name, result.dropped))
    run.checkpoint("exported")
    run.reporter.exported(spec.name, result.rows, result.bytes, result.path)
    failpoint("export")
    return Upload(result.path, result.path.name, result.sha256)


def dropped_message(feed: str, dropped: dict[str, int]) -> str:
    """The warning for characters an ASCII export left out."""
    per_column = ", ".join(f"{column} {count}" for column, count in dropped.items())
    return (f"{feed}: encoding ascii left out {sum(dropped.values())} characters with no ASCII form "
            f"(per column: {per_column})")


def remove_old_outputs(out_root: Path, keep_runs: int) -> None:
    """Keep the local files of the newest `keep_runs` runs; older run folders are removed."""
    if not out_root.is_dir():
        return
    folders = sorted((path for path in out_root.iterdir() if path.is_dir()), reverse=True)
    for folder in folders[keep_runs:]:
        shutil.rmtree(folder, ignore_errors=True)


def build_failure_message(summary: BuildSummary) -> str:
    if summary.error and not summary.failures:
        return f"dbt build failed: {summary.error}"
    shown = 12
    lines = [f"dbt build failed ({len(summary.failures)} failing); nothing was exported or delivered:"]
    lines += [f"  {failure.describe()}" for failure in summary.failures[:shown]]
    if len(summary.failures) > shown:
        lines.append(f"  ... and {len(summary.failures) - shown} more (all in the run record and the dbt log)")
    advice = next(filter(None, (warehouse.memory_advice(failure.message or "", build=True) for failure in summary.failures)), None)
    if advice:
        lines.append(advice)
    return "\n".join(lines)
