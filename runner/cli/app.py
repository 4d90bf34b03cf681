"""The `feeds` command: parses arguments, wires the steps together and maps errors to exit codes.

Exit codes: 0 success, 1 data tests failed (or a file failed validation/export), 2 usage or
configuration error, 3 delivery failed, 4 a safety gate refused.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from runner import __version__
from runner.config import Settings, config_path, load_settings
from runner.errors import (
    ConfigError,
    DataTestsFailed,
    DeliveryError,
    ExportError,
    FeedsError,
    GateRefused,
    ValidationFailed,
)
from runner.permissions import private_umask

app = typer.Typer(
    name="feeds",
    help="Build, test, export and deliver Listrak import feeds from a dbt project.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_CODES: list[tuple[type[FeedsError], int]] = [
    (ConfigError, 2),
    (GateRefused, 4),
    (DeliveryError, 3),
    (DataTestsFailed, 1),
    (ExportError, 1),
    (ValidationFailed, 1),
    (FeedsError, 1),
]

ConfigOption = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", envvar="FEEDS_CONFIG", help="Configuration file (default: ./feeds.yml if present)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON summary on stdout.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print only warnings, errors and the summary.")]
TargetOption = Annotated[Optional[str], typer.Option("--target", "-t", help="dbt target from profiles/profiles.yml.")]
ReplaceWaitingOption = Annotated[
    bool, typer.Option("--force", help="Replace a file of the same name still waiting at the destination.")
]
FeedsOption = Annotated[
    Optional[str], typer.Option("--feeds", help="Comma-separated feeds to run, e.g. orders,products (default: all enabled).")
]
DateOption = Annotated[
    Optional[str],
    typer.Option("--date", help="Run date YYYY-MM-DD used in file names (backfill or resend); default today in the feed time zone."),
]


def exit_code_for(error: FeedsError) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(error, cls):
            return code
    return 1


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _out(stderr: bool = False) -> Console:
    """A console for tables: the terminal's width, or wide enough not to cut columns in a log."""
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False, width=220)
    return console


def _fail(error: FeedsError, as_json: bool = False, extra: dict[str, Any] | None = None) -> typer.Exit:
    code = exit_code_for(error)
    _err().print(f"error: {error}", markup=False, style="bold red")
    if as_json:
        print(json.dumps({"ok": False, "exit_code": code, "error": str(error), "error_type": type(error).__name__, **(extra or {})}))
    return typer.Exit(code)


def _settings(config: Path | None, target: str | None = None) -> Settings:
    settings = load_settings(config_path(config))
    if target:
        settings = settings.model_copy(update={"target": target})
    return settings


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--date {value!r} is not a date; use YYYY-MM-DD") from None


def _parse_feeds(value: str | None) -> list[str] | None:
    if not value:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    return names or None


def _guard(action: Callable[[], Any], as_json: bool = False) -> Any:
    """Run a command body; expected failures become a message and an exit code, no traceback.

    The body runs under the umask 077: its files (feed files, state, records, logs, and what DuckDB
    and dbt write) hold customer e-mails and are created owner-only.
    """
    try:
        with private_umask():
            return action()
    except FeedsError as error:
        raise _fail(error, as_json) from None
    except KeyboardInterrupt:
        _err().print("interrupted", style="bold red")
        raise typer.Exit(130) from None


def _version(value: bool) -> None:
    if value:
        print(f"feeds {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Build, test, export and deliver Listrak import feeds."""


def _reporter(settings: Settings, quiet: bool, as_json: bool):
    from runner.output import ConsoleReporter, setup_logging

    # With --json, stdout carries only the JSON document; progress goes to stderr.
    console = _err()
    setup_logging(settings.resolve(settings.state_dir) / "feeds.log", console, quiet=quiet or as_json)
    return ConsoleReporter(console, quiet=quiet or as_json)


@app.command()
def run(
    config: ConfigOption = None,
    feeds: FeedsOption = None,
    run_date: DateOption = None,
    no_upload: Annotated[bool, typer.Option("--no-upload", help="Export the files but do not deliver them.")] = False,
    skip_build: Annotated[bool, typer.Option("--skip-build", help="Use the marts as they are; do not run dbt build.")] = False,
    select: Annotated[
        Optional[list[str]], typer.Option("--select", "-s", help="dbt selection to build instead of the feeds' upstream (repeatable).")
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Send full files this once, whatever each feed's mode; the delta state is kept.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Deliver even if a safety gate refuses (noted in the run record).")] = False,
    unit_tests: Annotated[
        bool,
        typer.Option(
            "--unit-tests",
            help="Also run dbt unit tests. They test the SQL on fixed inputs, not your data, so runs skip "
            "them as dbt recommends for production; `feeds build` and CI run them.",
        ),
    ] = False,
    target: TargetOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Build and test the models (data tests; unit tests with --unit-tests), export each feed to a
    dated file, deliver it, record the run."""
    from runner import pipeline

    def body() -> None:
        settings = _settings(config, target)
        options = pipeline.RunOptions(
            feeds=_parse_feeds(feeds),
            run_date=_parse_date(run_date),
            build=not skip_build,
            upload=not no_upload,
            select=select,
            full=full,
            force=force,
            unit_tests=unit_tests,
        )
        _recorded_command(lambda: pipeline.run(settings, options, _reporter(settings, quiet, as_json)), as_json)

    _guard(body, as_json)


def _recorded_command(action: Callable[[], Any], as_json: bool) -> None:
    """Run a command that writes a run record; show its summary whether it succeeded or not."""
    from runner.output import summary_table

    try:
        record = action()
    except FeedsError as error:
        record = error.run_record
        if record is not None and not as_json:
            _out(stderr=True).print(summary_table(record))
        raise _fail(error, as_json, {"run": record.to_json() if record is not None else None}) from None
    if as_json:
        print(json.dumps({"ok": True, "exit_code": 0, "run": record.to_json()}, indent=2))
    else:
        _out().print(summary_table(record))


@app.command()
def build(
    config: ConfigOption = None,
    select: Annotated[Optional[list[str]], typer.Option("--select", "-s", help="dbt selection (repeatable); default: every feed.")] = None,
    target: TargetOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run dbt build (models, seeds, unit and data tests) and report failures by test, model and column."""
    from runner import pipeline

    def body() -> None:
        settings = _settings(config, target)
        dbt = pipeline.build(settings, select, _reporter(settings, quiet, as_json)).dbt
        if as_json:
            print(json.dumps({"ok": True, "exit_code": 0, "dbt": dbt}, indent=2))
        else:
            counts = ", ".join(f"{n} {status}" for status, n in sorted(dbt["counts"].items()))
            print(f"dbt build passed in {dbt['seconds']:.1f}s: {counts}")

    _guard(body, as_json)


@app.command()
def export(
    config: ConfigOption = None,
    feeds: FeedsOption = None,
    run_date: DateOption = None,
    delta: Annotated[
        bool,
        typer.Option(
            "--delta",
            help="Write each delta feed's rows changed since its last delivery, as `feeds run` would send "
            "them, instead of the whole mart.",
        ),
    ] = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Export the marts as they are to dated files, whole whatever each feed's mode (no build, no
    delivery; the delivery state never moves); recorded as a run."""
    from runner import pipeline

    def body() -> None:
        settings = _settings(config)
        options = pipeline.RunOptions(
            feeds=_parse_feeds(feeds), run_date=_parse_date(run_date), build=False, upload=False, full=not delta
        )
        _recorded_command(lambda: pipeline.run(settings, options, _reporter(settings, quiet, as_json)), as_json)

    _guard(body, as_json)


@app.command()
def upload(
    files: Annotated[Optional[list[Path]], typer.Argument(help="Files to deliver; default: the files of the last run.")] = None,
    force: ReplaceWaitingOption = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Deliver files to the configured destination (by default, resend the last run's files)."""
    from runner import resend as delivery

    def body() -> None:
        settings = _settings(config)
        _recorded_command(
            lambda: delivery.upload(settings, list(files or []), _reporter(settings, quiet, as_json), force=force), as_json
        )

    _guard(body, as_json)


@app.command()
def resend(
    run_id: Annotated[str, typer.Argument(help="The run whose files to deliver again (see `feeds history`).")],
    force: ReplaceWaitingOption = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Deliver the files of an earlier run again, under their original names."""
    from runner import resend as delivery

    def body() -> None:
        settings = _settings(config)
        _recorded_command(lambda: delivery.resend(settings, run_id, _reporter(settings, quiet, as_json), force=force), as_json)

    _guard(body, as_json)


@app.command()
def check(
    config: ConfigOption = None,
    target: TargetOption = None,
    no_destination: Annotated[bool, typer.Option("--no-destination", help="Skip the destination check (no network).")] = False,
) -> None:
    """Validate the configuration, the DuckDB file and marts, and the destination (logs in, writes a probe)."""
    from runner import pipeline, warehouse
    from runner.deliver import make_destination
    from runner.output import setup_logging

    def body() -> None:
        settings = _settings(config, target)
        # Delivery retries shown as warnings, and paramiko's raw records kept off stderr, as in a run.
        setup_logging(settings.resolve(settings.state_dir) / "feeds.log", _err())
        source = config_path(config)
        print(f"ok  configuration: {source or 'built-in defaults'}")
        duckdb_path = settings.resolve(settings.duckdb_path)
        declared = pipeline.dbt_project(settings).feeds()
        chosen = pipeline.choose_feeds(settings, declared, None)
        print(f"ok  dbt project: {len(declared)} feeds declared ({', '.join(feed.name for feed in declared)})")
        with warehouse.connect(duckdb_path) as connection:
            missing = [feed.model for feed in chosen if not warehouse.relation_exists(connection, feed.relation)]
            if missing:
                raise ConfigError(f"DuckDB file {duckdb_path}: marts not built yet: {', '.join(missing)}; run `feeds build`")
            counts = {feed.name: warehouse.row_count(connection, feed) for feed in chosen}
        print(f"ok  DuckDB {duckdb_path}: " + ", ".join(f"{name} {n} rows" for name, n in counts.items()))
        if not no_destination:
            destination = make_destination(settings)
            with destination:
                for line in destination.check():
                    print(f"ok  {line}")
                for line in destination.leftovers(pipeline.feed_file_matcher(settings, chosen)):
                    print(f"leftover  {line}")

    _guard(body)


@app.command()
def preview(
    feed: Annotated[str, typer.Argument(help="Feed name: orders, order_items, customers or products.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Rows to show.")] = 10,
    config: ConfigOption = None,
) -> None:
    """Show the first rows of a feed's mart as a table."""
    from runner import pipeline, warehouse

    def body() -> None:
        settings = _settings(config)
        (chosen,) = pipeline.choose_feeds(settings, pipeline.dbt_project(settings).feeds(), [feed])
        with warehouse.connect(settings.resolve(settings.duckdb_path)) as connection:
            columns, rows = warehouse.preview(connection, chosen, limit)
        # Feeds are wide (up to 31 columns): one line per column, one table column per row.
        table = Table(title=f"{chosen.name} ({chosen.model}), first {len(rows)} rows by key", title_justify="left")
        table.add_column("column", no_wrap=True)
        for number in range(1, len(rows) + 1):
            table.add_column(f"row {number}", overflow="fold")
        for index, column in enumerate(columns):
            table.add_row(column, *["" if row[index] is None else str(row[index]) for row in rows])
        _out().print(table)

    _guard(body)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="The feed file to check (csv, txt or xlsx; ours or made by hand).")],
    feed: Annotated[
        Optional[str],
        typer.Option(
            "--feed", "-f", help="Which feed's contract: orders, order_items, customers, products (default: from the file name)."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Report at most this many problems.")] = 100,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a file against the feed contract (every data test of its mart); report row, column and
    rule of each problem (exit 1 if any). Format, encoding and delimiter are read from the file."""
    from runner import pipeline
    from runner.validate import feed_for_file, validate as validate_path

    def body() -> None:
        settings = _settings(config)
        if not file.is_file():
            raise ConfigError(f"file {file} does not exist")
        declared = pipeline.dbt_project(settings).feeds()
        if feed:
            (chosen,) = pipeline.choose_feeds(settings, declared, [feed])
        else:
            chosen = feed_for_file(file, [pipeline.effective_feed(settings, item) for item in declared])
        result = validate_path(file, chosen, settings.feed_format(chosen.name), limit=limit)
        problems = result.problems
        if as_json:
            print(
                json.dumps(
                    {
                        "ok": not problems,
                        "file": str(file),
                        "feed": chosen.name,
                        "format": result.detected,
                        "problems": [vars(p) for p in problems],
                        "unchecked": result.unchecked,
                    },
                    indent=2,
                )
            )
        else:
            for note in result.unchecked:
                _err().print(f"note: {note}", markup=False)
            if problems:
                title = f"{file}: {len(problems)} problems against the {chosen.name} feed"
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
                _out().print(table)
            else:
                print(f"ok  {file} ({result.detected}) meets the {chosen.name} feed contract")
        if problems:
            raise typer.Exit(1)

    _guard(body, as_json)


@app.command()
def history(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs to show, newest first.")] = 20,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the last runs: status, date, rows and files per feed."""
    from runner.output import history_table
    from runner.record import RunStore

    def body() -> None:
        settings = _settings(config)
        records = RunStore(settings.runs_dir).recent(limit)
        if as_json:
            print(json.dumps([record.to_json() for record in records], indent=2))
        elif not records:
            print(f"no runs recorded yet in {settings.runs_dir}")
        else:
            _out().print(history_table(records))

    _guard(body, as_json)


@app.command("demo-data")
def demo_data(
    orders: Annotated[int, typer.Option("--orders", min=1, help="How many orders to generate (customers, products and lines scale with it).")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same data.")] = 42,
    config: ConfigOption = None,
) -> None:
    """Write demo Shopify raw tables (with real-world defects) into the DuckDB file."""
    from runner.demo_data import generate

    def body() -> None:
        settings = _settings(config)
        path = settings.resolve(settings.duckdb_path)
        started = datetime.now()
        counts = generate(path, orders=orders, seed=seed)
        seconds = (datetime.now() - started).total_seconds()
        total = sum(counts.values())
        print(f"wrote {total} rows in {len(counts)} raw tables to {path} in {seconds:.1f}s "
              f"({', '.join(f'{name} {n}' for name, n in counts.items())})")

    _guard(body)


def entry() -> None:
    """The `feeds` console script: run the command, then exit without tearing the interpreter down.

    After a build the interpreter holds dbt's modules and manifest; freeing them one by one takes
    about 0.5 s that a scheduler waits for and nothing needs. By the time a command returns, its
    files and run record are written; the exit handlers still run (they flush the logs, close the
    DuckDB database dbt-duckdb keeps open, and release dbt's multiprocessing resources) and the
    standard streams are flushed. An unexpected exception takes the normal path, with its traceback.
    """
    try:
        app()
        code = 0
    except SystemExit as exc:
        if isinstance(exc.code, int):
            code = exc.code
        elif exc.code is None:
            code = 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    # What a normal exit does before the teardown: wait for non-daemon threads, run exit handlers.
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            pass  # the reader went away: nothing more can be said
        except (OSError, ValueError):
            code = code or 120  # as Python does when it cannot flush standard streams at exit
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
