"""The one-way pipeline behind `feeds run`: build -> gate -> export -> deliver -> record.

Each step gets plain values from the one before. Output goes through a `Reporter` the CLI supplies;
failures are raised as runner.errors classes after the run record has been written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from runner import export as export_step
from runner import warehouse
from runner.build import BuildSummary, DbtProject, selection_for
from runner.config import Settings
from runner.deliver import Destination, DeliveryResult, Upload
from runner.errors import ConfigError, DataTestsFailed, DeliveryError, FeedsError
from runner.feed import Feed
from runner.record import FeedRecord, RunRecord, RunStore

log = logging.getLogger("feeds")


class Reporter:
    """Receives progress from the pipeline; the CLI subclasses it for terminals, logs and JSON."""

    def stage(self, name: str, detail: str = "") -> None:
        """A pipeline step starts."""

    def node(self, name: str, resource_type: str, status: str) -> None:
        """A dbt node finished."""

    def warn(self, message: str) -> None:
        """Something the user should see that does not stop the run."""

    def exported(self, feed: str, rows: int, size: int, path: Path) -> None:
        """A feed file is written and verified."""

    def transfer(self, path: Path, sent: int, total: int) -> None:
        """Bytes of one file delivered so far."""

    def delivered(self, result: DeliveryResult) -> None:
        """One file reached its destination (or failed to)."""


@dataclass
class RunOptions:
    """What the user asked `feeds run` to do."""

    feeds: Sequence[str] | None = None
    run_date: date | None = None
    build: bool = True
    upload: bool = True
    select: Sequence[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "feeds": list(self.feeds) if self.feeds else None,
            "run_date": self.run_date.isoformat() if self.run_date else None,
            "build": self.build,
            "upload": self.upload,
            "select": list(self.select) if self.select else None,
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
    from dataclasses import replace

    return replace(
        feed,
        file_name=overrides.file_name or feed.file_name,
        mode=overrides.mode or feed.mode,
    )


def run_date(settings: Settings, requested: date | None) -> date:
    """The date in file names: as requested, else today in the configured time zone."""
    return requested or datetime.now(ZoneInfo(settings.timezone)).date()


def make_destination(settings: Settings) -> Destination:
    destination = settings.destination
    if destination.type == "sftp":
        from runner.deliver.sftp import SftpDestination

        return SftpDestination(destination, project_dir=settings.base_dir)
    from runner.deliver.local import LocalDestination

    return LocalDestination(settings.resolve(destination.path), create_dirs=destination.create_dirs)


def run(settings: Settings, options: RunOptions, reporter: Reporter) -> RunRecord:
    """Build, gate, export and deliver; the run record is written whatever happens."""
    store = RunStore(settings.runs_dir)
    record = store.start("run", options.to_json())
    try:
        _run(settings, options, reporter, store, record)
    except FeedsError as exc:
        store.finish(record, exc)
        raise
    except BaseException as exc:
        store.finish(record, exc)
        raise
    store.finish(record)
    return record


def _run(settings: Settings, options: RunOptions, reporter: Reporter, store: RunStore, record: RunRecord) -> None:
    project = dbt_project(settings)
    reporter.stage("parse", str(settings.resolve(settings.project_dir)))
    feeds = [effective_feed(settings, feed) for feed in choose_feeds(settings, project.feeds(), options.feeds)]
    record.run_date = run_date(settings, options.run_date).isoformat()
    for feed in feeds:
        record.feeds[feed.name] = FeedRecord(feed=feed.name)
    store.save(record)

    if options.build:
        reporter.stage("build", "dbt build " + " ".join(options.select or selection_for(feeds)))
        summary = project.build(list(options.select or selection_for(feeds)), on_node=reporter.node)
        record.dbt = summary.to_json()
        store.save(record)
        if not summary.success:
            for feed in record.feeds.values():
                feed.status = "skipped"
            raise DataTestsFailed(build_failure_message(summary))
        rejects_models = {feed.rejects_model for feed in feeds}
        for warning in summary.warnings:
            # Quarantined rows are reported per feed, with reasons, at export.
            if warning.model not in rejects_models:
                reporter.warn(warning.describe())

    files = export_feeds(settings, feeds, record, reporter, store)

    if not options.upload:
        return
    destination = make_destination(settings)
    record.destination = f"{destination.kind}:{destination.describe()}"
    deliver(destination, files, record, reporter, store)


def export_feeds(
    settings: Settings, feeds: list[Feed], record: RunRecord, reporter: Reporter, store: RunStore
) -> list[tuple[Feed, Upload]]:
    """Export every feed of the run into `<output_dir>/<run_id>/`; return what to deliver."""
    out_dir = settings.resolve(settings.output_dir) / record.run_id
    day = date.fromisoformat(record.run_date) if record.run_date else run_date(settings, None)
    uploads = []
    reporter.stage("export", str(out_dir))
    with warehouse.connect(settings.resolve(settings.duckdb_path)) as connection:
        for feed in feeds:
            if not warehouse.relation_exists(connection, feed.relation):
                raise ConfigError(f"mart {feed.model} ({feed.relation}) does not exist; run `feeds build` first")
        for feed in feeds:
            entry = record.feeds[feed.name]
            entry.rejects = warehouse.rejects_by_reason(connection, feed)
            if entry.rejects:
                reasons = ", ".join(f"{count} {reason}" for reason, count in entry.rejects.items())
                reporter.warn(f"{feed.name}: {sum(entry.rejects.values())} rows quarantined ({reasons})")
            fmt = settings.feed_format(feed.name)
            name = export_step.file_name(feed, fmt, day, settings.date_format)
            try:
                result = export_step.export_feed(connection, feed, fmt, out_dir, name)
            except FeedsError as exc:
                entry.status, entry.error = "failed", str(exc)
                store.save(record)
                raise
            entry.status = "exported"
            entry.rows, entry.bytes, entry.sha256 = result.rows, result.bytes, result.sha256
            entry.local_path, entry.export_seconds = str(result.path), round(result.seconds, 3)
            store.save(record)
            reporter.exported(feed.name, result.rows, result.bytes, result.path)
            uploads.append((feed, Upload(result.path, result.path.name)))
    return uploads


def deliver(
    destination: Destination,
    files: list[tuple[Feed, Upload]],
    record: RunRecord,
    reporter: Reporter,
    store: RunStore,
) -> None:
    """Deliver the files; each feed's record says where it went. Raises if any file failed."""
    reporter.stage("deliver", f"{destination.kind}: {destination.describe()}")
    by_path = {upload.local_path: feed for feed, upload in files}
    with destination:
        results = destination.deliver_all([upload for _, upload in files], reporter.transfer)
    failed = []
    for result in results:
        entry = record.feeds[by_path[result.local_path].name]
        entry.delivery_seconds = round(result.seconds, 3)
        if result.status == "delivered":
            entry.status, entry.remote_path = "delivered", result.remote_path
        else:
            entry.status, entry.error = "failed", result.error
            failed.append(f"{result.local_path.name}: {result.error}")
        reporter.delivered(result)
    store.save(record)
    if failed:
        raise DeliveryError("delivery failed for " + "; ".join(failed))


def build_failure_message(summary: BuildSummary) -> str:
    if summary.error and not summary.failures:
        return f"dbt build failed: {summary.error}"
    lines = [f"dbt build failed ({len(summary.failures)} failing); nothing was exported or delivered:"]
    lines += [f"  {failure.describe()}" for failure in summary.failures]
    return "\n".join(lines)


def upload(settings: Settings, paths: list[Path], reporter: Reporter) -> RunRecord:
    """Deliver existing files (given, or those of the last run that exported files) again."""
    store = RunStore(settings.runs_dir)
    if not paths:
        last = store.last_with_files()
        if last is None:
            raise ConfigError("no files given and no earlier run exported any; pass FILES or run `feeds run` first")
        paths = [Path(feed.local_path) for feed in last.feeds.values() if feed.local_path]
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"file {path} does not exist")
    record = store.start("upload", {"files": [str(path) for path in paths]})
    try:
        destination = make_destination(settings)
        record.destination = f"{destination.kind}:{destination.describe()}"
        files = []
        for path in paths:
            pseudo = Feed(name=path.name, model="", relation="", file_name=path.stem, key=())
            record.feeds[path.name] = FeedRecord(feed=path.name, local_path=str(path), bytes=path.stat().st_size)
            files.append((pseudo, Upload(path, path.name)))
        deliver(destination, files, record, reporter, store)
    except BaseException as exc:
        store.finish(record, exc)
        raise
    store.finish(record)
    return record
