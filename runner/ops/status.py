"""Whether each enabled feed is being delivered: last success, last attempt, source freshness, stale.

Read from the run records (`<state_dir>/runs`, runner.record) and, for the newest source row, from
`dbt source freshness` on the configured target, so it works on whatever engine dbt runs on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from runner.config import Settings
from runner.config_ops import duration_seconds
from runner.errors import FeedsError
from runner.record import RunRecord, RunStore
from runner.run.paths import Paths
from runner.run.plan import choose_feeds

#: What counts as the feed being up to date at Listrak: its file confirmed there, or an empty delta
#: skipped on purpose (`empty_delta: skip`: nothing changed, nothing to send).
SUCCESS = ("delivered", "unchanged")


@dataclass
class Delivery:
    """The last run in which a feed was delivered (or had nothing new to deliver)."""

    run_id: str
    at: str
    status: str
    rows: int | None = None
    file: str | None = None
    remote_path: str | None = None


@dataclass
class Attempt:
    """The newest run that tried the feed, and how it ended for it."""

    run_id: str
    at: str
    status: str  # the feed's: delivered, unchanged, failed, skipped, exported, pending
    run_status: str  # the run's: success, failed, interrupted, running
    error: str | None = None
    error_type: str | None = None


@dataclass
class FeedStatus:
    feed: str
    max_age: str
    max_age_seconds: int
    stale: bool
    #: Seconds since the last success; None when there never was one.
    age_seconds: float | None = None
    last_success: Delivery | None = None
    last_attempt: Attempt | None = None
    #: The newest source row (the freshest `loaded_at_field` of the sources the feed reads).
    source_loaded_at: str | None = None
    source_age_seconds: float | None = None
    source_error: str | None = None

    @property
    def reason(self) -> str:
        """Why the feed is stale (or how old its delivery is)."""
        if self.last_success is None:
            return "never delivered"
        return f"last delivered {describe_age(self.age_seconds or 0)} ago (max_age {self.max_age})"


@dataclass
class Status:
    checked_at: str
    feeds: list[FeedStatus] = field(default_factory=list)

    @property
    def stale(self) -> list[FeedStatus]:
        return [feed for feed in self.feeds if feed.stale]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": not self.stale,
            "checked_at": self.checked_at,
            "stale": [feed.feed for feed in self.stale],
            "feeds": [{**asdict(feed), "reason": feed.reason} for feed in self.feeds],
        }


def describe_age(seconds: float) -> str:
    """1d 3h, 2h 5m, 4m, 30s: the two largest units."""
    seconds = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])


def _when(record: RunRecord) -> str:
    return record.finished_at or record.started_at


def _seconds_since(stamp: str, now: datetime) -> float:
    return (now - datetime.fromisoformat(stamp)).total_seconds()


def enabled_feeds(settings: Settings) -> list[str]:
    """The enabled feeds the dbt project declares, in declaration order."""
    return [feed.name for feed in choose_feeds(settings, Paths.of(settings).dbt_project().feeds(), None)]


def feed_status(
    settings: Settings, names: list[str], records: list[RunRecord], now: datetime | None = None
) -> Status:
    """The status of the named feeds from the run records (newest first), without source freshness."""
    now = now or datetime.now(timezone.utc)
    found: dict[str, FeedStatus] = {}
    for name in names:
        max_age = settings.feed_format(name).max_age
        found[name] = FeedStatus(name, max_age, duration_seconds(max_age), stale=True)
    for record in records:
        if record.command != "run" or record.status == "running":
            continue
        for name, entry in record.feeds.items():
            status = found.get(name)
            if status is None:
                continue
            if status.last_attempt is None:
                status.last_attempt = Attempt(
                    record.run_id, _when(record), entry.status, record.status,
                    entry.error or record.error, record.error_type,
                )
            if status.last_success is None and entry.status in SUCCESS:
                status.last_success = Delivery(
                    record.run_id, _when(record), entry.status, entry.rows,
                    entry.local_path.rsplit("/", 1)[-1] if entry.local_path else None, entry.remote_path,
                )
        if all(item.last_success and item.last_attempt for item in found.values()):
            break
    for status in found.values():
        if status.last_success is not None:
            status.age_seconds = round(_seconds_since(status.last_success.at, now), 1)
            status.stale = status.age_seconds > status.max_age_seconds
    return Status(now.isoformat(timespec="seconds"), list(found.values()))


def status(settings: Settings, freshness: bool = True, now: datetime | None = None) -> Status:
    """`feeds status`: every enabled feed's deliveries and, unless `freshness` is off, its source's age."""
    names = enabled_feeds(settings)
    result = feed_status(settings, names, RunStore(settings.runs_dir).recent(limit=None), now)
    if freshness:
        add_source_freshness(settings, result)
    return result


def add_source_freshness(settings: Settings, result: Status) -> None:
    """The newest source row of each feed, by `dbt source freshness` on the configured target.

    A warehouse that cannot be read (file missing, held by a running build) leaves the error on each
    feed instead of failing the status: the deliveries are what decides staleness.
    """
    paths = Paths.of(settings)
    now = datetime.fromisoformat(result.checked_at)
    try:
        project = paths.dbt_project()
        newest = project.source_freshness({feed.name: feed.model for feed in project.feeds()})
    except FeedsError as exc:
        for feed in result.feeds:
            feed.source_error = str(exc).splitlines()[0]
        return
    for feed in result.feeds:
        loaded_at, error = newest.get(feed.feed, (None, "no source with a loaded_at_field upstream"))
        feed.source_error = error
        if loaded_at is not None:
            feed.source_loaded_at = loaded_at.isoformat(timespec="seconds")
            feed.source_age_seconds = round((now - loaded_at).total_seconds(), 1)
