"""How the CLI talks to people and schedulers: rich progress on a terminal, plain lines otherwise,
a log file, and the tables and JSON documents commands print. The run only sees the Reporter
interface; nothing here decides anything."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table
from rich.text import Text

from runner.deliver import DeliveryResult
from runner.reporter import Reporter
from runner.record import RunRecord

if TYPE_CHECKING:
    from runner.validate import Problem

log = logging.getLogger("feeds")


def setup_logging(log_file: Path | None, console: Console | None = None, quiet: bool = False) -> None:
    """Timestamped lines in the log file, from the pipeline (logger 'feeds'), the steps' own modules
    (logger 'runner': retries, resumes, fallbacks, cleanups) and paramiko.

    The steps' warnings are also shown on `console` as the CLI's own "warning: ..." lines (their
    notes too, unless quiet). paramiko writes to the log file only: its records ("Socket exception:
    Connection reset by peer") are raw versions of what the delivery reports itself, and without a
    handler Python's last-resort one would print them on stderr.
    """
    file_handler: logging.Handler | None = None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    named = {
        "feeds": (logging.INFO, None),
        "runner": (logging.INFO, _ConsoleHandler(console, quiet) if console is not None else None),
        # paramiko's INFO is a line per connection and channel; its warnings and errors are worth keeping.
        "paramiko": (logging.WARNING, None),
    }
    for name, (level, shown) in named.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.propagate = False
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            if handler is not shown:
                handler.close()
        for handler in (file_handler, shown):
            if handler is not None:
                logger.addHandler(handler)
        if not logger.handlers:
            # Keeps Python's last-resort handler (bare messages on stderr) out of the way.
            logger.addHandler(logging.NullHandler())


class _ConsoleHandler(logging.Handler):
    """Log records of the steps shown as the CLI shows its own: "warning: ..." in yellow, notes plain."""

    def __init__(self, console: Console, quiet: bool) -> None:
        super().__init__(logging.INFO)
        self.console = console
        self.quiet = quiet

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.levelno >= logging.WARNING:
                self.console.print(f"warning: {message}", markup=False, highlight=False, style="yellow")
            elif not self.quiet:
                self.console.print(f"  {message}", markup=False, highlight=False)
        except Exception:  # a logging handler must not raise into the code that logged
            self.handleError(record)


def human_bytes(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


class ConsoleReporter(Reporter):
    """Progress for people: rich bars on a terminal, plain lines when not (or when quiet)."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.fancy = console.is_terminal and not quiet
        self._nodes = 0
        self._progress: Progress | None = None
        self._tasks: dict[Path, Any] = {}
        self._lock = threading.Lock()

    def _line(self, text: str) -> None:
        log.info(text)
        if not self.quiet:
            self.console.print(text, markup=False, highlight=False)

    def stage(self, name: str, detail: str = "") -> None:
        self._line(f"[{name}] {detail}".rstrip())

    def node(self, name: str, resource_type: str, status: str) -> None:
        self._nodes += 1
        log.info("dbt %s %s: %s", resource_type, name, status)
        # Warnings are reported once, after the build, by the command (with their failing rows).
        if status not in ("success", "pass", "warn") and not self.quiet:
            self.console.print(f"  dbt {resource_type} {name}: {status}", markup=False, highlight=False)
        elif self.fancy and self._nodes % 10 == 0:
            self.console.print(f"  dbt: {self._nodes} nodes done", markup=False, highlight=False)

    def warn(self, message: str) -> None:
        log.warning(message)
        self.console.print(f"warning: {message}", markup=False, highlight=False, style="yellow")

    def exported(self, feed: str, rows: int, size: int, path: Path) -> None:
        self._line(f"  exported {feed}: {rows} rows, {human_bytes(size)} -> {path.name}")

    def transfer(self, path: Path, sent: int, total: int) -> None:
        if not self.fancy:
            return
        # Called from the upload threads while the main thread reports finished files.
        with self._lock:
            self._transfer(path, sent, total)

    def _transfer(self, path: Path, sent: int, total: int) -> None:
        if self._progress is None:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                console=self.console, transient=True,
            )
            self._progress.start()
        if path not in self._tasks:
            self._tasks[path] = self._progress.add_task(path.name, total=total)
        self._progress.update(self._tasks[path], completed=sent)

    def delivered(self, result: DeliveryResult) -> None:
        with self._lock:
            if self._progress is not None and result.local_path in self._tasks:
                self._progress.remove_task(self._tasks.pop(result.local_path))
                if not self._tasks:
                    self._progress.stop()
                    self._progress = None
        if result.status == "delivered":
            self._line(f"  delivered {result.local_path.name} -> {result.remote_path} ({result.seconds:.2f}s)")
        else:
            log.error("delivery of %s failed: %s", result.local_path.name, result.error)


def summary_table(record: RunRecord) -> Table:
    table = Table(title=f"run {record.run_id}: {record.status}", title_justify="left")
    for column in ("feed", "status", "rows", "size", "sha256", "rejected", "excluded", "truncated", "remote"):
        table.add_column(column, justify="right" if column in ("rows", "size", "rejected") else "left")
    for feed in record.feeds.values():
        # Records written before rejected_rows existed counted reasons; show what they have.
        rejected = feed.rejected_rows if feed.rejected_rows is not None else sum(feed.rejects.values())
        table.add_row(
            feed.feed,
            feed.status,
            "" if feed.rows is None else str(feed.rows),
            human_bytes(feed.bytes),
            (feed.sha256 or "")[:12],
            str(rejected) if rejected else "",
            ", ".join(f"{count} {rule}" for rule, count in feed.excluded.items()),
            ", ".join(f"{column} {count}" for column, count in feed.truncated.items()),
            feed.remote_path or "",
        )
    return table


def history_table(records: list[RunRecord]) -> Table:
    table = Table(title="feeds history", title_justify="left")
    for column in ("run", "command", "started (UTC)", "status", "build", "date", "feeds", "rows", "error"):
        table.add_column(column)
    for record in records:
        feeds = ", ".join(f"{name}:{feed.status}" for name, feed in record.feeds.items())
        rows = sum(feed.rows or 0 for feed in record.feeds.values())
        table.add_row(
            record.run_id,
            record.command,
            record.started_at.replace("+00:00", ""),
            record.status,
            _build_mode(record),
            record.run_date or "",
            feeds,
            str(rows) if rows else "",
            (record.error or "").splitlines()[0][:80] if record.error else "",
        )
    return table


def _build_mode(record: RunRecord) -> str:
    """How the build ran the incremental models: incremental, full, or full for some of them."""
    modes = [entry.get("mode") for entry in (record.dbt or {}).get("incremental", {}).values()]
    full = modes.count("full")
    if not modes:
        return ""
    return "incremental" if not full else "full" if full == len(modes) else f"full {full}/{len(modes)}"


def err() -> Console:
    # No emoji codes: a certificate fingerprint (SHA256:..:DD:CD:BC:..) would print ':cd:' as an emoji.
    return Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def out(stderr: bool = False) -> Console:
    """A console for tables: the terminal's width, or wide enough not to cut columns in a log."""
    console = Console(stderr=stderr, highlight=False, emoji=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False, width=220, emoji=False)
    return console


def reporter(state_dir: Path, quiet: bool, as_json: bool) -> ConsoleReporter:
    """Progress for a command: with --json, stdout carries only the JSON document; progress goes to stderr."""
    console = err()
    setup_logging(state_dir / "feeds.log", console, quiet=quiet or as_json)
    return ConsoleReporter(console, quiet=quiet or as_json)


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2))


def run_result(record: RunRecord, as_json: bool) -> None:
    """What a command that wrote a run record prints when it succeeded."""
    if as_json:
        print_json({"ok": True, "exit_code": 0, "run": record.to_json()})
    else:
        out().print(summary_table(record))


def preview_table(name: str, model: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> Table:
    # Feeds are wide (up to 31 columns): one line per column, one table column per row.
    table = Table(title=f"{name} ({model}), first {len(rows)} rows by key", title_justify="left")
    table.add_column("column", no_wrap=True)
    for number in range(1, len(rows) + 1):
        table.add_column(f"row {number}", overflow="fold")
    for index, column in enumerate(columns):
        table.add_row(column, *["" if row[index] is None else str(row[index]) for row in rows])
    return table


def problems_table(title: str, problems: Sequence[Problem]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("row", "column", "rule", "message"):
        table.add_column(column)
    for problem in problems:
        # Text, not markup: a message quotes the file's values, which may hold [brackets].
        table.add_row(
            "" if problem.row is None else str(problem.row),
            Text(problem.column or ""),
            problem.rule,
            Text(problem.message),
        )
    return table


def status_table(status: Any) -> Table:
    """`feeds status`: one row per enabled feed (a runner.ops.status.Status)."""
    from runner.ops.status import describe_age

    table = Table(title=f"feeds status at {status.checked_at.replace('+00:00', '')} UTC", title_justify="left")
    for column in ("feed", "state", "last delivery (UTC)", "age", "max_age", "rows", "file", "last attempt", "newest source row"):
        table.add_column(column, justify="right" if column in ("age", "rows") else "left")
    for feed in status.feeds:
        success, attempt = feed.last_success, feed.last_attempt
        if feed.source_age_seconds is not None:
            source = f"{describe_age(feed.source_age_seconds)} ago"
        else:
            source = Text(f"unknown: {feed.source_error}" if feed.source_error else "")
        table.add_row(
            feed.feed,
            Text("STALE", style="bold red") if feed.stale else Text("ok", style="green"),
            success.at.replace("+00:00", "") if success else "never",
            describe_age(feed.age_seconds) if feed.age_seconds is not None else "",
            feed.max_age,
            "" if success is None or success.rows is None else str(success.rows),
            (success.file or success.status) if success else "",
            Text(f"{attempt.run_id}: {attempt.status}" + (f" ({attempt.error_type})" if attempt.error_type else ""))
            if attempt else "",
            source,
        )
    return table
