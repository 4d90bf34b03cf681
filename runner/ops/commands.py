"""The operations work behind `feeds status`, `feeds report` and the end of `feeds run`: plain values
in, plain values out; the CLI renders them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from runner.config import Settings
from runner.errors import FeedsError
from runner.ops import metrics, notify
from runner.ops.status import Status, add_source_freshness, enabled_feeds, feed_status
from runner.record import RunRecord, RunStore

log = logging.getLogger("runner.ops")


def status(settings: Settings, freshness: bool = True, prometheus: Path | None = None, alert: bool = False) -> Status:
    """`feeds status`: the status of every enabled feed; optionally the metrics file and `stale` webhooks."""
    records = RunStore(settings.runs_dir).recent(limit=None)
    result = feed_status(settings, enabled_feeds(settings), records)
    if freshness:
        add_source_freshness(settings, result)
    if prometheus is not None:
        metrics.write(prometheus, result, records)
    if alert:
        notify.notify_stale(settings, result)
    return result


def observe(settings: Settings, prometheus: Path | None, body: Callable[[], RunRecord]) -> RunRecord:
    """Run `body` (a `feeds run`); however it ends with a record, send its events and write the metrics.

    Neither can change the outcome: their failures are logged as warnings.
    """
    record = None
    try:
        record = body()
        return record
    except FeedsError as error:
        record = error.run_record if isinstance(error.run_record, RunRecord) else None
        raise
    finally:
        if record is not None:
            try:
                after_run(settings, record, prometheus)
            except Exception as exc:  # reporting on a run must never turn into its failure
                log.warning("after the run: could not notify or write metrics: %s", exc)


def after_run(settings: Settings, record: RunRecord, prometheus: Path | None) -> None:
    """The webhooks a finished run raises, then the metrics file (if asked for)."""
    records = RunStore(settings.runs_dir).recent(limit=None)
    if settings.notify:
        previous = next(
            (item for item in records
             if item.command == "run" and item.run_id < record.run_id
             and item.status != "running" and item.error_type != "RunLocked"),
            None,
        )
        from runner.run.paths import Paths

        rejects = {feed.rejects_model for feed in Paths.of(settings).dbt_project().feeds() if feed.rejects_model}
        for event in notify.run_events(record, previous, rejects):
            notify.notify(settings, event, notify.run_payload(event, record))
    if prometheus is not None:
        try:
            metrics.write(prometheus, feed_status(settings, enabled_feeds(settings), records), records)
        except FeedsError as exc:
            log.warning("%s", exc)
