"""The `feeds` command: parses arguments, calls runner.run, renders the result.

Commands hold no logic and no error handling: runner.cli.handler.FeedsGroup runs every command,
turning runner.errors classes into the README's exit codes; runner.cli.render prints.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from runner import __version__
from runner.cli.handler import FeedsGroup, recording, remember_json
from runner.config import Settings, config_path, load_settings
from runner.errors import ConfigError

if TYPE_CHECKING:
    from runner.cli.render import ConsoleReporter

app = typer.Typer(
    name="feeds",
    cls=FeedsGroup,
    help="Build, test, export and deliver Listrak import feeds from a dbt project.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", envvar="FEEDS_CONFIG", help="Configuration file (default: ./feeds.yml if present)."),
]
JsonOption = Annotated[
    bool, typer.Option("--json", callback=remember_json, help="Print a machine-readable JSON summary on stdout.")
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print only warnings, errors and the summary.")]
TargetOption = Annotated[Optional[str], typer.Option("--target", "-t", help="dbt target from profiles/profiles.yml.")]
FullRefreshOption = Annotated[
    bool, typer.Option("--full-refresh", help="Rebuild the incremental models whole instead of only what changed.")
]
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


def _reporter(settings: Settings, quiet: bool, as_json: bool) -> ConsoleReporter:
    from runner.cli import render

    return render.reporter(settings.resolve(settings.state_dir), quiet, as_json)


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


@app.command()
def run(
    ctx: typer.Context,
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
    full_refresh: FullRefreshOption = False,
    prometheus: Annotated[
        Optional[Path], typer.Option("--prometheus", help="At the end, write `feeds status` metrics to FILE (Prometheus text, atomically).")
    ] = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Build and test the models (data tests; unit tests with --unit-tests), export each feed to a
    dated file, deliver it, record the run."""
    from runner.cli import render
    from runner.ops.commands import observe
    from runner.run import execute
    from runner.run.plan import RunOptions

    if full_refresh and skip_build:
        raise ConfigError("--full-refresh rebuilds the models; it cannot go with --skip-build, which builds none")
    settings = _settings(config, target)
    options = RunOptions(
        feeds=_parse_feeds(feeds),
        run_date=_parse_date(run_date),
        build=not skip_build,
        upload=not no_upload,
        select=select,
        full=full,
        force=force,
        unit_tests=unit_tests,
        full_refresh=full_refresh,
    )
    recording(ctx)
    reporter = _reporter(settings, quiet, as_json)
    # Webhooks and the metrics file follow the run however it ends (runner.ops.commands.observe).
    record = observe(settings, prometheus, lambda: execute.run(settings, options, reporter))
    render.run_result(record, as_json)


@app.command()
def build(
    config: ConfigOption = None,
    select: Annotated[Optional[list[str]], typer.Option("--select", "-s", help="dbt selection (repeatable); default: every feed.")] = None,
    target: TargetOption = None,
    full_refresh: FullRefreshOption = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run dbt build (models, seeds, unit and data tests) and report failures by test, model and column."""
    from runner.cli import render
    from runner.run import execute

    settings = _settings(config, target)
    dbt = execute.build(settings, select, _reporter(settings, quiet, as_json), full_refresh).dbt
    if as_json:
        render.print_json({"ok": True, "exit_code": 0, "dbt": dbt})
    else:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(dbt["counts"].items()))
        print(f"dbt build passed in {dbt['seconds']:.1f}s: {counts}")


@app.command()
def export(
    ctx: typer.Context,
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
    target: TargetOption = None,
) -> None:
    """Export the marts as they are to dated files, whole whatever each feed's mode (no build, no
    delivery; the delivery state never moves); recorded as a run."""
    from runner.cli import render
    from runner.run import execute
    from runner.run.plan import RunOptions

    settings = _settings(config, target)
    options = RunOptions(feeds=_parse_feeds(feeds), run_date=_parse_date(run_date), build=False, upload=False, full=not delta)
    recording(ctx)
    render.run_result(execute.run(settings, options, _reporter(settings, quiet, as_json)), as_json)


@app.command()
def sample(
    ctx: typer.Context,
    config: ConfigOption = None,
    feeds: FeedsOption = None,
    rows: Annotated[int, typer.Option("--rows", "-n", min=1, help="Rows per file at most (orders and their lines both fit).")] = 100,
    run_date: DateOption = None,
    no_upload: Annotated[bool, typer.Option("--no-upload", help="Write the sample files but do not deliver them.")] = False,
    skip_build: Annotated[bool, typer.Option("--skip-build", help="Use the marts as they are; do not run dbt build.")] = False,
    force: Annotated[bool, typer.Option("--force", help="With --skip-build: sample marts whose last build failed.")] = False,
    target: TargetOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Onboarding samples: a varied, consistent slice of every feed (the lines of the sampled orders,
    their customers and products), named so Listrak does not import them (sample_prefix, default
    Sample_, or samples_dir), delivered through the destination. The delivery state never moves."""
    from runner.cli import render
    from runner.run import sample as sampling
    from runner.run.plan import RunOptions

    settings = _settings(config, target)
    options = RunOptions(
        feeds=_parse_feeds(feeds), run_date=_parse_date(run_date), build=not skip_build, upload=not no_upload, force=force
    )
    recording(ctx)
    render.run_result(sampling.sample(settings, options, rows, _reporter(settings, quiet, as_json)), as_json)


@app.command()
def upload(
    ctx: typer.Context,
    files: Annotated[Optional[list[Path]], typer.Argument(help="Files to deliver; default: the files of the last run.")] = None,
    force: ReplaceWaitingOption = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Deliver files to the configured destination (by default, resend the last run's files)."""
    from runner.cli import render
    from runner.run import resend as delivery

    settings = _settings(config)
    recording(ctx)
    record = delivery.upload(settings, list(files or []), _reporter(settings, quiet, as_json), force=force)
    render.run_result(record, as_json)


@app.command()
def resend(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run whose files to deliver again (see `feeds history`).")],
    force: ReplaceWaitingOption = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Deliver the files of an earlier run again, under their original names."""
    from runner.cli import render
    from runner.run import resend as delivery

    settings = _settings(config)
    recording(ctx)
    render.run_result(delivery.resend(settings, run_id, _reporter(settings, quiet, as_json), force=force), as_json)


@app.command()
def check(
    config: ConfigOption = None,
    target: TargetOption = None,
    no_destination: Annotated[bool, typer.Option("--no-destination", help="Skip the destination check (no network).")] = False,
) -> None:
    """Validate the configuration, the DuckDB file and marts, and the destination (logs in, writes a probe)."""
    from runner.cli import render
    from runner.run import inspect

    settings = _settings(config, target)
    # Delivery retries shown as warnings, and paramiko's raw records kept off stderr, as in a run.
    render.setup_logging(settings.resolve(settings.state_dir) / "feeds.log", render.err())
    print(f"ok  configuration: {config_path(config) or 'built-in defaults'}")
    for status, line in inspect.check(settings, destination=not no_destination):
        print(f"{status}  {line}")


@app.command()
def preview(
    feed: Annotated[str, typer.Argument(help="Feed name: orders, order_items, customers or products.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Rows to show.")] = 10,
    config: ConfigOption = None,
    target: TargetOption = None,
) -> None:
    """Show the first rows of a feed's mart as a table."""
    from runner.cli import render
    from runner.run import inspect

    shown = inspect.preview(_settings(config, target), feed, limit)
    render.out().print(render.preview_table(shown.feed.name, shown.feed.model, shown.columns, shown.rows))


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
    from runner.cli import render
    from runner.run import inspect

    chosen, result = inspect.validate_file(_settings(config), file, feed, limit)
    problems = result.problems
    if as_json:
        render.print_json({
            "ok": not problems,
            "file": str(file),
            "feed": chosen.name,
            "format": result.detected,
            "problems": [vars(p) for p in problems],
            "unchecked": result.unchecked,
        })
    else:
        for note in result.unchecked:
            render.err().print(f"note: {note}", markup=False)
        if problems:
            title = f"{file}: {len(problems)} problems against the {chosen.name} feed"
            render.out().print(render.problems_table(title, problems))
        else:
            print(f"ok  {file} ({result.detected}) meets the {chosen.name} feed contract")
    if problems:
        raise typer.Exit(1)


@app.command()
def history(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs to show, newest first.")] = 20,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the last runs: status, date, rows and files per feed."""
    from runner.cli import render
    from runner.record import RunStore

    settings = _settings(config)
    records = RunStore(settings.runs_dir).recent(limit)
    if as_json:
        render.print_json([record.to_json() for record in records])
    elif not records:
        print(f"no runs recorded yet in {settings.runs_dir}")
    else:
        render.out().print(render.history_table(records))


@app.command("demo-data")
def demo_data(
    orders: Annotated[int, typer.Option("--orders", min=1, help="How many orders to generate (customers, products and lines scale with it).")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same data.")] = 42,
    api: Annotated[str, typer.Option("--api", help="Shape of the tables: rest or graphql (Fivetran's REST or GraphQL Shopify connector); the same store either way.")] = "rest",
    config: ConfigOption = None,
    target: TargetOption = None,
) -> None:
    """Write demo Shopify raw tables (with real-world defects) into the DuckDB file, or with
    --target into that warehouse (generated locally, then loaded in bulk)."""
    from runner.run.demo import demo_data as load

    settings = _settings(config, target)
    started = datetime.now()
    where, counts = load(settings, orders=orders, seed=seed, api=api.lower())
    seconds = (datetime.now() - started).total_seconds()
    total = sum(counts.values())
    print(f"wrote {total} rows in {len(counts)} raw tables to {where} in {seconds:.1f}s "
          f"({', '.join(f'{name} {n}' for name, n in counts.items())})")


# The operations commands (status, report) live in their own module; importing it registers them.
from runner.cli import operate as _operate  # noqa: E402,F401  (after `app` and the options exist)
