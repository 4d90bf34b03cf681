"""The operations commands: `feeds status` (freshness of every feed, exit 5 when stale) and `feeds
report` (the HTML report). Registered on runner.cli.app's `app`, which imports this module last."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from runner.cli.app import ConfigOption, JsonOption, TargetOption, _settings, app
from runner.cli.handler import STALE


@app.command()
def status(
    config: ConfigOption = None,
    prometheus: Annotated[
        Optional[Path],
        typer.Option("--prometheus", help="Also write the metrics to FILE (Prometheus text, atomically), for node_exporter's textfile collector."),
    ] = None,
    alert: Annotated[
        bool, typer.Option("--notify", help="Send the `stale` event to the notify: webhooks for feeds that went stale since the last check.")
    ] = False,
    freshness: Annotated[
        bool, typer.Option("--freshness/--no-freshness", help="Ask the warehouse for the newest source row (dbt source freshness).")
    ] = True,
    target: TargetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Each enabled feed's last delivery, last attempt and source freshness; exit 5 when any feed was
    not delivered within its max_age."""
    from runner.cli import render
    from runner.ops import commands

    settings = _settings(config, target)
    render.setup_logging(settings.resolve(settings.state_dir) / "feeds.log", render.err())
    result = commands.status(settings, freshness=freshness, prometheus=prometheus, alert=alert)
    if as_json:
        render.print_json({**result.to_json(), "exit_code": STALE if result.stale else 0})
    else:
        render.out().print(render.status_table(result))
    for feed in result.stale:
        render.err().print(f"stale: {feed.feed}: {feed.reason}", markup=False, style="bold red")
    if result.stale:
        raise typer.Exit(STALE)


@app.command()
def report(
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="The HTML file (default: <state_dir>/report.html).")] = None,
    runs: Annotated[int, typer.Option("--runs", "-n", min=1, help="How many of the last runs the charts show.")] = 30,
    config: ConfigOption = None,
) -> None:
    """Write a self-contained HTML report (status, charts of the last runs, failures, quarantine)."""
    from runner.ops import report as ops_report

    settings = _settings(config)
    path = output or settings.resolve(settings.state_dir) / "report.html"
    ops_report.write(settings, path, runs)
    print(f"wrote {path}")
