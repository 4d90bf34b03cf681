"""Prometheus metrics for node_exporter's textfile collector, in prometheus_client's text exposition.

Written atomically (a temporary file in the same folder, then a rename), so the collector never
reads half a file; mode 0644 whatever the umask, as node_exporter runs as its own user. The file
holds feed names, counts and reasons only: no customer data.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from runner.errors import ConfigError
from runner.ops.status import Status
from runner.record import RunRecord


def stage_seconds(record: RunRecord) -> dict[str, float]:
    """How long each stage of a run took: dbt build, export (all files), delivery (longest file, as
    files upload side by side), and the whole run."""
    stages: dict[str, float] = {}
    if record.dbt.get("seconds") is not None:
        stages["build"] = float(record.dbt["seconds"])
    exports = [entry.export_seconds for entry in record.feeds.values() if entry.export_seconds is not None]
    if exports:
        stages["export"] = round(sum(exports), 3)
    deliveries = [entry.delivery_seconds for entry in record.feeds.values() if entry.delivery_seconds is not None]
    if deliveries:
        stages["deliver"] = max(deliveries)
    if record.finished_at:
        stages["total"] = (datetime.fromisoformat(record.finished_at) - datetime.fromisoformat(record.started_at)).total_seconds()
    return stages


def registry_for(status: Status, records: list[RunRecord]) -> CollectorRegistry:
    """The metrics of a status and the run records it was read from (newest first)."""
    registry = CollectorRegistry()
    labels = ["feed"]
    last_success = Gauge("feeds_last_success_timestamp_seconds", "When the feed was last delivered (Unix time).", labels, registry=registry)
    rows = Gauge("feeds_last_success_rows", "Rows in the feed's last delivered file.", labels, registry=registry)
    age = Gauge("feeds_delivery_age_seconds", "Seconds since the feed's last delivery.", labels, registry=registry)
    max_age = Gauge("feeds_max_age_seconds", "The feed's max_age: older than this is stale.", labels, registry=registry)
    stale = Gauge("feeds_stale", "1 when the feed has not been delivered within its max_age.", labels, registry=registry)
    source_age = Gauge("feeds_source_age_seconds", "Age of the newest source row the feed reads.", labels, registry=registry)
    quarantined = Gauge("feeds_rows_quarantined", "Source rows held back in the feed's last attempt, per reason.",
                        ["feed", "reason"], registry=registry)
    stage = Gauge("feeds_run_stage_duration_seconds", "Duration of each stage of the last finished run.", ["stage"], registry=registry)
    last_run = Gauge("feeds_last_run_timestamp_seconds", "When the last finished run ended (Unix time).", registry=registry)
    last_ok = Gauge("feeds_last_run_success", "1 when the last finished run succeeded.", registry=registry)

    for feed in status.feeds:
        stale.labels(feed.feed).set(1 if feed.stale else 0)
        max_age.labels(feed.feed).set(feed.max_age_seconds)
        if feed.last_success is not None:
            last_success.labels(feed.feed).set(datetime.fromisoformat(feed.last_success.at).timestamp())
            rows.labels(feed.feed).set(feed.last_success.rows or 0)
            age.labels(feed.feed).set(feed.age_seconds or 0)
        if feed.source_age_seconds is not None:
            source_age.labels(feed.feed).set(feed.source_age_seconds)
    runs = [record for record in records if record.command == "run" and record.finished_at]
    names = {feed.feed for feed in status.feeds}
    counted: set[str] = set()
    for record in runs:
        for name, entry in record.feeds.items():
            if name in names and name not in counted and entry.rejected_rows is not None:
                counted.add(name)
                for reason, count in entry.rejects.items():
                    quarantined.labels(name, reason).set(count)
    if runs:
        for name, seconds in stage_seconds(runs[0]).items():
            stage.labels(name).set(seconds)
        last_run.set(datetime.fromisoformat(runs[0].finished_at or runs[0].started_at).timestamp())
        last_ok.set(1 if runs[0].status == "success" else 0)
    return registry


def write(path: Path, status: Status, records: list[RunRecord]) -> None:
    """Write the metrics file atomically; a folder that is not there or not writable is a ConfigError."""
    data = generate_latest(registry_for(status, records))
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)
            handle.write(data)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ConfigError(f"cannot write the metrics file {path}: {exc.strerror}; check --prometheus") from None
