"""The settings resolved once into plain values: paths, and per feed its file-name template, mode,
format and empty-delta policy. Execution (runner.run.execute, runner.run.resend) gets these, never
`Settings`; this module and `resolve` are the only readers of the configuration in a run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Callable, Sequence
from zoneinfo import ZoneInfo

from runner import feed_file
from runner.config import FeedFormat, GateSettings, Settings
from runner.deliver import Destination, make_destination
from runner.errors import ConfigError
from runner.feed import Feed
from runner.run.paths import Paths
from runner.warehouse.state import Prepared
from runner.warehouse.target import Target


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
    #: Rebuild the incremental models whole (dbt's --full-refresh).
    full_refresh: bool = False
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
            "full_refresh": self.full_refresh,
            **self.extra,
        }


@dataclass(frozen=True)
class FeedSpec:
    """One feed as configured: the declared feed with its file-name template and mode applied."""

    feed: Feed
    format: FeedFormat
    #: A delta with no rows: "send" a header-only file, or "skip" it.
    empty_delta: str
    date_format: str

    @property
    def name(self) -> str:
        return self.feed.name

    def file_name(self, day: date) -> str:
        return feed_file.file_name(self.feed, self.format, day, self.date_format)


@dataclass(frozen=True)
class RunPlan:
    """A `feeds run` or `feeds export` with the settings resolved: what execution needs, nothing more."""

    paths: Paths
    run_date: date
    #: The feeds of this run, and every declared one (leftovers of any of them are tidied).
    feeds: list[FeedSpec]
    declared: list[FeedSpec]
    gates: GateSettings
    keep_runs: int
    build: bool
    #: The dbt selection to build (default: the chosen feeds' upstream).
    select: list[str] | None
    unit_tests: bool
    full: bool
    force: bool
    full_refresh: bool
    #: Opens the destination (None: export only); called after the build, as before.
    destination: Callable[[], Destination] | None
    #: The dbt target the marts are built on and read from (None: the profile's default, DuckDB).
    target: Target | None = None

    @property
    def embedded(self) -> bool:
        """The marts are in the embedded DuckDB file (files in key order), not a warehouse's (copied
        for export; row order free)."""
        return self.target is None or self.target.embedded


@dataclass
class FeedPlan:
    """One feed in this run after fingerprinting: what to send and under which name."""

    spec: FeedSpec
    file_name: str
    prepared: Prepared
    #: Why the feed looks delivered before although the delivery state has none of it (state lost?).
    lost_state: str | None = None

    @property
    def feed(self) -> Feed:
        return self.spec.feed


def resolve(settings: Settings, options: RunOptions, declared: list[Feed], target: Target | None = None) -> RunPlan:
    """The run's plan from the settings and the feeds the dbt project declares."""
    chosen = choose_feeds(settings, declared, options.feeds)
    specs = [feed_spec(settings, feed) for feed in declared]
    by_name = {spec.name: spec for spec in specs}
    return RunPlan(
        paths=Paths.of(settings),
        run_date=run_date(settings, options.run_date),
        feeds=[by_name[feed.name] for feed in chosen],
        declared=specs,
        gates=settings.gates,
        keep_runs=settings.keep_runs,
        build=options.build,
        select=list(options.select) if options.select else None,
        unit_tests=options.unit_tests,
        full=options.full,
        force=options.force,
        full_refresh=options.full_refresh,
        destination=(lambda: make_destination(settings)) if options.upload else None,
        target=target,
    )


def feed_spec(settings: Settings, feed: Feed) -> FeedSpec:
    overrides = settings.feeds.get(feed.name)
    empty_delta = (overrides.empty_delta if overrides and overrides.empty_delta else None) or settings.empty_delta
    return FeedSpec(effective_feed(settings, feed), settings.feed_format(feed.name), empty_delta, settings.date_format)


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


#: strftime codes whose output has a fixed shape; any other code matches any text.
_DATE_CODES = {"Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}", "M": r"\d{2}",
               "S": r"\d{2}", "j": r"\d{3}", "%": "%"}
_DATE_PLACEHOLDER = "FEEDSDATEPLACEHOLDER"


def feed_file_pattern(spec: FeedSpec) -> re.Pattern[str]:
    """Matches the feed's file name of any date (the name `export.file_name` gives, `{date}` free)."""
    sample = feed_file.file_name(spec.feed, spec.format, date(2000, 1, 1), _DATE_PLACEHOLDER)
    date_pattern = "".join(
        _DATE_CODES.get(part[-1], ".+?") if part.startswith("%") else re.escape(part)
        for part in re.split(r"(%-?.)", spec.date_format)
        if part
    )
    return re.compile(re.escape(sample).replace(_DATE_PLACEHOLDER, date_pattern))


def feed_file_matcher(specs: Sequence[FeedSpec]) -> Callable[[str], bool]:
    """Whether a name is the file name (of any date) of one of these feeds."""
    patterns = [feed_file_pattern(spec) for spec in specs]
    return lambda name: any(pattern.fullmatch(name) for pattern in patterns)
