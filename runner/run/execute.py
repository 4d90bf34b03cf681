"""The one-way pipeline behind `feeds run`: build -> gate -> export -> deliver -> record.

Each step gets plain values from the one before. Output goes through a `Reporter` the CLI supplies;
failures are raised as runner.errors classes after the run record has been written. Delivering
files that already exist (`feeds upload`, `feeds resend`) is runner.resend.
"""

from __future__ import annotations

import re
import shutil
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence
from zoneinfo import ZoneInfo

import duckdb

from runner import export as export_step
from runner import preflight, warehouse
from runner.build import BuildSummary, DbtProject, selection_for
from runner.config import Settings
from runner.deliver import Destination, DeliveryResult, Upload, make_destination, still_waiting, temporary_of, timed
from runner.errors import ConfigError, DataTestsFailed, DeliveryError, ExportError, FeedsError, GateRefused
from runner.faults import checkpoint
from runner.hashing import hash_file
from runner.feed import Feed
from runner.lock import run_lock
from runner.record import FeedRecord, RunRecord, RunStore, file_stamp, record_hash
from runner.reporter import Reporter
from runner.state import DeliveryState, Prepared

@dataclass
class RunOptions:
    """What the user asked `feeds run` to do."""

    feeds: Sequence[str] | None = None
    run_date: date | None = None
    build: bool = True
    upload: bool = True
    select: Sequence[str] | None = None
    full: bool = False
    force: bool = False
    #: Also run dbt unit tests (fixed inputs: for development and CI; production runs skip them).
    unit_tests: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "feeds": list(self.feeds) if self.feeds else None,
            "run_date": self.run_date.isoformat() if self.run_date else None,
            "build": self.build,
            "upload": self.upload,
            "select": list(self.select) if self.select else None,
            "full": self.full,
            "force": self.force,
            "unit_tests": self.unit_tests,
            **self.extra,
        }


def dbt_project(settings: Settings) -> DbtProject:
    return DbtProject(
        project_dir=settings.resolve(settings.project_dir),
        duckdb_path=settings.resolve(settings.duckdb_path),
        target=settings.target,
        log_dir=settings.resolve(settings.state_dir) / "logs",
    )


def choose_feeds(settings: Settings, declared: list[Feed], wanted: Sequence[str] | None) -> list[Feed]:
    """The feeds to run: those asked for (validated by name), else every enabled one."""
    by_name = {feed.name: feed for feed in declared}
    unknown_settings = sorted(set(settings.feeds) - set(by_name))
    if unknown_settings:
        raise ConfigError(
            f"feeds.{unknown_settings[0]} in the configuration is not a declared feed; "
            f"declared feeds: {', '.join(by_name) or 'none'}"
        )
    if wanted:
        missing = [name for name in wanted if name not in by_name]
        if missing:
            raise ConfigError(f"unknown feed {missing[0]!r} in --feeds; choose from {', '.join(by_name)}")
        return [by_name[name] for name in wanted]
    chosen = [feed for feed in declared if settings.feeds.get(feed.name) is None or settings.feeds[feed.name].enabled]
    if not chosen:
        raise ConfigError("no feed is enabled; set feeds.<name>.enabled: true for at least one")
    return chosen


def effective_feed(settings: Settings, feed: Feed) -> Feed:
    """The feed with the configured file-name template and mode applied."""
    overrides = settings.feeds.get(feed.name)
    if overrides is None:
        return feed
    return replace(
        feed,
        file_name=overrides.file_name or feed.file_name,
        mode=overrides.mode or feed.mode,
    )


def run_date(settings: Settings, requested: date | None) -> date:
    """The date in file names: as requested, else today in the configured time zone."""
    return requested or datetime.now(ZoneInfo(settings.timezone)).date()


def run(settings: Settings, options: RunOptions, reporter: Reporter) -> RunRecord:
    """Build, gate, export and deliver, one run at a time; the run record is written whatever happens."""
    store = RunStore(settings.runs_dir)
    record = store.start("run", options.to_json())
    with store.recording(record):
        with run_lock(settings.resolve(settings.state_dir), record.run_id, reporter.warn):
            _run(settings, options, reporter, store, record)
    remove_old_outputs(settings, store)
    return record


def _run(settings: Settings, options: RunOptions, reporter: Reporter, store: RunStore, record: RunRecord) -> None:
    duckdb_path = settings.resolve(settings.duckdb_path)
    warehouse.require_file(duckdb_path)  # before dbt, which would create an empty file
    project = dbt_project(settings)
    reporter.stage("parse", str(settings.resolve(settings.project_dir)))
    declared = project.feeds()
    feeds = [effective_feed(settings, feed) for feed in choose_feeds(settings, declared, options.feeds)]
    record.run_date = run_date(settings, options.run_date).isoformat()
    for feed in feeds:
        record.feeds[feed.name] = FeedRecord(feed=feed.name)
    store.save(record)

    if not options.build:
        preflight.check_last_build(store, record, options.upload, options.force, reporter)
    if options.build:
        selection = list(options.select or selection_for(feeds))
        preflight.check_sources(duckdb_path, project, selection)
        reporter.stage("build", "dbt build " + " ".join(selection))

        def on_node(name: str, resource_type: str, status: str) -> None:
            reporter.node(name, resource_type, status)
            checkpoint("build")

        summary = project.build(selection, on_node=on_node, unit_tests=options.unit_tests)
        record.dbt = summary.to_json()
        store.save(record)
        if not summary.success:
            for feed in record.feeds.values():
                feed.status = "skipped"
            raise build_failure(summary, duckdb_path)
        rejects_models = {feed.rejects_model for feed in feeds}
        for warning in summary.warnings:
            # Quarantined rows are reported per feed, with reasons, at export.
            if warning.model not in rejects_models:
                reporter.warn(warning.describe())

    destination = make_destination(settings) if options.upload else None
    with warehouse.connect(duckdb_path) as connection, _opened(destination), _duckdb_errors(duckdb_path):
        if destination is not None:
            record.destination = f"{destination.kind}:{destination.describe()}"
            # Before planning, so a waiting file an interrupted replace moved aside is back under its name,
            # where the plan sees it waiting and carries its rows. Every declared feed's leftovers go.
            destination.tidy(feed_file_matcher(settings, [effective_feed(settings, feed) for feed in declared]))
        state = DeliveryState(connection, settings.resolve(settings.state_dir) / "state.duckdb")
        plans = plan_feeds(settings, options, feeds, connection, state, destination, record, reporter)
        check_gates(settings, options, plans, record, reporter)
        store.save(record)
        reporter.stage("export", str(settings.resolve(settings.output_dir) / record.run_id))
        if destination is None:
            export_only(settings, plans, connection, record, reporter, store)
            return
        export_and_deliver(settings, plans, connection, state, destination, record, reporter, store)


def build(settings: Settings, select: Sequence[str] | None, reporter: Reporter) -> RunRecord:
    """`feeds build`: dbt build (unit tests included) on the selection, recorded as a run, so a later
    `--skip-build` knows whether the marts passed their tests."""
    store = RunStore(settings.runs_dir)
    record = store.start("build", {"select": list(select) if select else None})
    with store.recording(record):
        project = dbt_project(settings)
        selection = list(select or selection_for(project.feeds()))
        preflight.check_sources(settings.resolve(settings.duckdb_path), project, selection)
        reporter.stage("build", "dbt build " + " ".join(selection))
        summary = project.build(selection, on_node=reporter.node)
        record.dbt = summary.to_json()
        store.save(record)
        for warning in summary.warnings:
            reporter.warn(warning.describe())
        if not summary.success:
            raise build_failure(summary, settings.resolve(settings.duckdb_path))
    return record


def build_failure(summary: BuildSummary, duckdb_path: Path) -> FeedsError:
    """The error for a failed build: dbt's lock error on the DuckDB file is the held-file error of
    every other command (exit 4), anything else failed data (exit 1)."""
    texts = [summary.error or ""] + [failure.message or "" for failure in summary.failures]
    held = next((text for text in texts if "could not set lock" in text.lower()), None)
    if held is not None:
        reason = next(line.strip() for line in held.splitlines() if "could not set lock" in line.lower())
        return warehouse.file_in_use(duckdb_path, reason)
    return DataTestsFailed(build_failure_message(summary))


def export_only(
    settings: Settings, plans: list[FeedPlan], connection: Any, record: RunRecord, reporter: Reporter, store: RunStore
) -> None:
    """Export the feeds one by one; each file is hashed in a thread while DuckDB writes the next."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hash") as pool:
        hashing: dict[Future[tuple[int, str]], FeedPlan] = {}
        try:
            for plan in _largest_first(plans):
                upload = export_one(settings, plan, connection, record, reporter, store)
                if upload is not None and upload.sha256 is None:
                    hashing[pool.submit(hash_file, upload.local_path)] = plan
        finally:
            for future, plan in hashing.items():
                try:
                    record.feeds[plan.feed.name].sha256 = future.result()[1]
                except OSError as exc:  # the file went away; say so, but keep any export error first
                    reporter.warn(f"{plan.feed.name}: could not hash {plan.file_name}: {exc.strerror}")
            store.save(record)


def export_and_deliver(
    settings: Settings,
    plans: list[FeedPlan],
    connection: Any,
    state: DeliveryState,
    destination: Destination,
    record: RunRecord,
    reporter: Reporter,
    store: RunStore,
) -> None:
    """Export the feeds one by one while finished files are already uploading (and being hashed as
    they are read); commit each feed's state as soon as its own file is confirmed. DuckDB is used
    from this thread only."""
    reporter.stage("deliver", f"{destination.kind}: {destination.describe()}")
    failed: list[str] = []
    with ThreadPoolExecutor(max_workers=destination.concurrency, thread_name_prefix="deliver") as pool:
        pending: dict[Future[DeliveryResult], FeedPlan] = {}
        try:
            for plan in _largest_first(plans):
                upload = export_one(settings, plan, connection, record, reporter, store)
                if upload is not None:
                    pending[pool.submit(timed, destination.deliver_one, upload, reporter.transfer)] = plan
                for future in [future for future in pending if future.done()]:
                    _settle(future.result(), pending.pop(future), state, record, reporter, store, failed)
        finally:
            # Even when an export failed, files already on their way are settled and recorded.
            for future in as_completed(pending):
                _settle(future.result(), pending[future], state, record, reporter, store, failed)
    if failed:
        raise DeliveryError("delivery failed for " + "; ".join(failed))


def _largest_first(plans: list[FeedPlan]) -> list[FeedPlan]:
    """Largest file first: its upload or hash, the longest, runs while the smaller ones export."""
    return sorted(plans, key=lambda plan: -plan.prepared.file_rows * len(plan.feed.columns))


def _settle(
    result: DeliveryResult,
    plan: FeedPlan,
    state: DeliveryState,
    record: RunRecord,
    reporter: Reporter,
    store: RunStore,
    failed: list[str],
) -> None:
    """Record one file's delivery; advance the feed's state only if it is confirmed."""
    entry = record.feeds[plan.feed.name]
    reporter.delivered(result)
    if not entry.apply_delivery(result):
        failed.append(f"{result.local_path.name}: {result.error}")
        record_hash(entry, result.local_path)
        store.save(record)
        return
    checkpoint("commit")
    state.commit(record.run_id, plan.prepared, plan.file_name, result.remote_path, entry.sha256)
    entry.state_committed = True
    store.save(record)


@contextmanager
def _duckdb_errors(path: Path) -> Iterator[None]:
    """DuckDB failures while planning, exporting or committing state, as a message that says what to do."""
    try:
        yield
    except duckdb.Error as exc:
        raise ExportError(
            f"DuckDB failed on {path}: {str(exc).splitlines()[0]}. If a mart no longer matches the dbt project, "
            "run without --skip-build; if another program holds the file or the state, close it and retry"
        ) from None


@contextmanager
def _opened(destination: Destination | None) -> Iterator[None]:
    if destination is None:
        yield
        return
    with destination:
        yield


@dataclass
class FeedPlan:
    """One feed in this run: what to send and under which name."""

    feed: Feed
    file_name: str
    prepared: Prepared
    #: Why the feed looks delivered before although the delivery state has none of it (state lost?).
    lost_state: str | None = None


def plan_feeds(
    settings: Settings,
    options: RunOptions,
    feeds: list[Feed],
    connection: Any,
    state: DeliveryState,
    destination: Destination | None,
    record: RunRecord,
    reporter: Reporter,
) -> list[FeedPlan]:
    """Fingerprint each feed's rows against the delivery state and decide each file's content."""
    day = date.fromisoformat(record.run_date)
    plans = []
    for feed in feeds:
        if not warehouse.relation_exists(connection, feed.relation):
            raise ConfigError(f"mart {feed.model} ({feed.relation}) does not exist; run `feeds build` first")
    evidence = _EarlierDeliveries(settings, destination)
    for feed in feeds:
        entry = record.feeds[feed.name]
        counts = warehouse.rule_counts(connection, feed)
        entry.rejects, entry.rejected_rows = counts.quarantined, counts.quarantined_rows
        entry.excluded, entry.truncated = counts.excluded, counts.truncated
        if counts.quarantined_rows:
            # One line per feed, counting rows; each group of rows with the reasons they share.
            reasons = ", ".join(f"{count} {reasons}" for reasons, count in counts.reason_sets.items())
            reporter.warn(f"{feed.name}: {counts.quarantined_rows} rows quarantined ({reasons})")
        name = export_step.file_name(feed, settings.feed_format(feed.name), day, settings.date_format)
        waiting = still_waiting(destination, name)
        mode = "full" if options.full else feed.mode
        prepared = state.prepare(feed, mode, name if waiting else None)
        entry.mode, entry.total_rows, entry.changed_rows = mode, prepared.total_rows, prepared.changed_rows
        entry.carried_rows = prepared.file_rows - prepared.changed_rows if mode == "delta" else 0
        lost = None if prepared.has_state or options.full else evidence.of(feed)
        plans.append(FeedPlan(feed, name, prepared, lost))
    return plans


class _EarlierDeliveries:
    """What shows that a feed was delivered before, for a feed the delivery state knows nothing of."""

    def __init__(self, settings: Settings, destination: Destination | None) -> None:
        self.settings = settings
        self.destination = destination
        self._history: tuple[dict[str, str], set[str]] | None = None
        self._names: list[str] | None = None

    def of(self, feed: Feed) -> str | None:
        if self._history is None:
            self._history = RunStore(self.settings.runs_dir).feed_history()
        committed, exported = self._history
        if feed.name in committed:
            return f"run {committed[feed.name]} in {self.settings.runs_dir} committed a delivery of it"
        if feed.name in exported or self.destination is None:
            # Files of the feed at the destination are then from those runs, which never committed
            # (killed before their commit): not a lost state.
            return None
        if self._names is None:
            try:
                self._names = self.destination.names()
            except NotImplementedError:
                self._names = []
        pattern = feed_file_pattern(self.settings, feed)
        found = sorted(
            name for name in self._names
            if pattern.fullmatch(name) or temporary_of(name, lambda final: bool(pattern.fullmatch(final)))
        )
        if not found:
            return None
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        return f"{self.destination.describe()} holds its files ({shown})"


#: strftime codes whose output has a fixed shape; any other code matches any text.
_DATE_CODES = {"Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}", "M": r"\d{2}",
               "S": r"\d{2}", "j": r"\d{3}", "%": "%"}
_DATE_PLACEHOLDER = "FEEDSDATEPLACEHOLDER"


def feed_file_pattern(settings: Settings, feed: Feed) -> re.Pattern[str]:
    """Matches the feed's file name of any date (the name `export.file_name` gives, `{date}` free)."""
    sample = export_step.file_name(feed, settings.feed_format(feed.name), date(2000, 1, 1), _DATE_PLACEHOLDER)
    date_pattern = "".join(
        _DATE_CODES.get(part[-1], ".+?") if part.startswith("%") else re.escape(part)
        for part in re.split(r"(%-?.)", settings.date_format)
        if part
    )
    return re.compile(re.escape(sample).replace(_DATE_PLACEHOLDER, date_pattern))


def feed_file_matcher(settings: Settings, feeds: Sequence[Feed]) -> Callable[[str], bool]:
    """Whether a name is the file name (of any date) of one of these feeds."""
    patterns = [feed_file_pattern(settings, feed) for feed in feeds]
    return lambda name: any(pattern.fullmatch(name) for pattern in patterns)


def _why_empty(entry: FeedRecord) -> str:
    """Where a feed's source rows went, for a refusal of an empty file: exclusions and quarantine."""
    parts = []
    if entry.excluded:
        rules = ", ".join(f"{count} {rule}" for rule, count in entry.excluded.items())
        parts.append(f"{sum(entry.excluded.values())} source rows excluded ({rules})")
    if entry.rejected_rows:
        reasons = ", ".join(f"{count} {reason}" for reason, count in entry.rejects.items())
        parts.append(f"{entry.rejected_rows} rows quarantined ({reasons})")
    return ": " + "; ".join(parts) if parts else ": the source has no rows for it"


def check_gates(
    settings: Settings, options: RunOptions, plans: list[FeedPlan], record: RunRecord, reporter: Reporter
) -> None:
    """Refuse the whole run (nothing exported or delivered) when a feed looks wrong, unless --force."""
    gates = settings.gates
    refusals = []
    for plan in plans:
        prepared = plan.prepared
        if plan.lost_state:
            state_file = settings.resolve(settings.state_dir) / "state.duckdb"
            refusals.append(
                f"{plan.feed.name}: the delivery state {state_file} has no delivery of this feed, but "
                f"{plan.lost_state}. Was the state file lost? Restore it, or re-establish it by sending "
                "every row once: --full (full files) or --force"
            )
        elif prepared.mode == "full":
            if prepared.total_rows == 0:
                why = _why_empty(record.feeds[plan.feed.name])
                refusals.append(f"{plan.feed.name}: the full file would be empty{why}")
            elif prepared.last_full_rows and prepared.total_rows < prepared.last_full_rows * (1 - gates.max_shrink):
                refusals.append(
                    f"{plan.feed.name}: the full file would hold {prepared.total_rows} rows, "
                    f"{1 - prepared.total_rows / prepared.last_full_rows:.0%} fewer than the {prepared.last_full_rows} "
                    f"last delivered (gates.max_shrink is {gates.max_shrink:.0%})"
                )
        elif prepared.has_state and prepared.changed_rows > gates.max_delta_share * prepared.total_rows:
            refusals.append(
                f"{plan.feed.name}: the delta holds {prepared.changed_rows} of {prepared.total_rows} rows "
                f"({prepared.changed_rows / prepared.total_rows:.0%}, gates.max_delta_share is "
                f"{gates.max_delta_share:.0%}); was the delivery state lost or the warehouse rebuilt?"
            )
    record.gates = {"refused": refusals, "forced": bool(refusals and options.force)}
    if not refusals:
        return
    if options.force:
        for refusal in refusals:
            reporter.warn(f"gate overridden by --force: {refusal}")
        return
    for entry in record.feeds.values():
        entry.status = "skipped"
    raise GateRefused(
        "safety gate refused the run; nothing was exported or delivered:\n  "
        + "\n  ".join(refusals)
        + "\nIf this is expected, run once with --force (the run record notes it); adjust gates: in feeds.yml otherwise"
    )


def export_one(
    settings: Settings,
    plan: FeedPlan,
    connection: Any,
    record: RunRecord,
    reporter: Reporter,
    store: RunStore,
) -> Upload | None:
    """Export one planned feed into `<output_dir>/<run_id>/`; return what to deliver (None: nothing)."""
    out_dir = settings.resolve(settings.output_dir) / record.run_id
    feed, entry = plan.feed, record.feeds[plan.feed.name]
    if plan.prepared.file_rows == 0 and plan.prepared.mode == "delta" and _empty_delta(settings, feed) == "skip":
        entry.status = "unchanged"
        return None
    try:
        # The plan has just counted the rows; the SHA-256 is computed by whoever reads the file next.
        result = export_step.export_feed(
            connection, replace(feed, relation=plan.prepared.relation), settings.feed_format(feed.name),
            out_dir, plan.file_name, expected_rows=plan.prepared.file_rows, digest=False,
        )
    except FeedsError as exc:
        entry.status, entry.error = "failed", str(exc)
        store.save(record)
        raise
    entry.status = "exported"
    entry.rows, entry.bytes, entry.sha256 = result.rows, result.bytes, result.sha256
    entry.local_path, entry.export_seconds = str(result.path), round(result.seconds, 3)
    entry.file_stamp = file_stamp(result.path)
    store.save(record)
    reporter.exported(feed.name, result.rows, result.bytes, result.path)
    checkpoint("export")
    return Upload(result.path, result.path.name, result.sha256)


def _empty_delta(settings: Settings, feed: Feed) -> str:
    overrides = settings.feeds.get(feed.name)
    return (overrides.empty_delta if overrides and overrides.empty_delta else None) or settings.empty_delta


def remove_old_outputs(settings: Settings, store: RunStore) -> None:
    """Keep the local files of the newest `keep_runs` runs; older run folders are removed."""
    out_root = settings.resolve(settings.output_dir)
    if not out_root.is_dir():
        return
    folders = sorted((path for path in out_root.iterdir() if path.is_dir()), reverse=True)
    for folder in folders[settings.keep_runs:]:
        shutil.rmtree(folder, ignore_errors=True)


def build_failure_message(summary: BuildSummary) -> str:
    if summary.error and not summary.failures:
        return f"dbt build failed: {summary.error}"
    shown = 12
    lines = [f"dbt build failed ({len(summary.failures)} failing); nothing was exported or delivered:"]
    lines += [f"  {failure.describe()}" for failure in summary.failures[:shown]]
    if len(summary.failures) > shown:
        lines.append(f"  ... and {len(summary.failures) - shown} more (all in the run record and the dbt log)")
    return "\n".join(lines)
