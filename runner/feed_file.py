"""A feed file's name and header row: plain naming rules shared by the export, `feeds validate` and
the run plan (which must know a file's name before anything is exported)."""

from __future__ import annotations

from datetime import date, datetime

from runner.config import FeedFormat
from runner.errors import ExportError
from runner.feed import Feed


def file_name(feed: Feed, fmt: FeedFormat, run_date: date | datetime, date_format: str) -> str:
    """The feed's file name for a run date: its template with `{date}` filled in, plus the extension.

    `run_date` must already be in the feed time zone; this function does no zone conversion.
    """
    stem = feed.file_name.replace("{date}", run_date.strftime(date_format))
    extension = f".{fmt.file_extension}"
    # A template that already ends in the extension (file_name: Orders.csv) is taken as the whole name.
    name = stem if stem.lower().endswith(extension) else stem + extension
    if "/" in name or "\\" in name or name.startswith("."):
        raise ExportError(
            f"feed {feed.name}: file name {name!r} must be a plain name (no directories, not starting with '.'); "
            "fix the feed's file_name template or the date format"
        )
    return name


def header_names(feed: Feed, fmt: FeedFormat) -> list[str]:
    """The header row of a feed file: the mart's column names with the format's overrides applied."""
    return [fmt.headers.get(column.name, column.name) for column in feed.columns]
