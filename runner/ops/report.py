"""`feeds report`: one self-contained HTML file (inline CSS and SVG, no script, no external asset),
safe to attach to an e-mail: every text in it passes through `mask_emails`.

Contents: the status of each feed, charts over the last N runs (rows per feed, quarantined rows per
reason, duration per stage, file sizes), the last failures with their messages, and the current
quarantine reasons with example keys (read from the rejects models in the warehouse).
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from html import escape
from pathlib import Path

from runner.config import Settings
from runner.errors import ConfigError, FeedsError
from runner.ops import charts
from runner.ops.metrics import stage_seconds
from runner.ops.status import Status, add_source_freshness, describe_age, enabled_feeds, feed_status
from runner.ops.text import mask_emails
from runner.record import RunRecord, RunStore

STAGES = ("build", "export", "deliver")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;margin:24px;max-width:1320px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.meta{color:#666}table{border-collapse:collapse;margin:6px 0}th,td{padding:4px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{background:#f5f5f5}.num{text-align:right}.ok{color:#1a7f37;font-weight:600}.stale{color:#c62828;font-weight:700}
.charts{display:flex;flex-wrap:wrap;gap:18px}.chart{border:1px solid #e3e3e3;border-radius:4px;background:#fff}
.chart .t{font-size:13px;font-weight:600;fill:#222}.chart .x{font-size:10px;fill:#555;text-anchor:middle}
.chart .y{font-size:10px;fill:#555;text-anchor:end}.chart .l{font-size:11px;fill:#333}.chart .g{stroke:#eee}
pre{white-space:pre-wrap;background:#fafafa;border:1px solid #eee;padding:6px;margin:2px 0;font-size:12px}
"""


def _h(value: object) -> str:
    """Escaped, e-mail-masked text."""
    return escape(mask_emails("" if value is None else str(value)))


def _time(stamp: str | None) -> str:
    """2026-11-28T21:15:00+00:00 -> 2026-11-28 21:15 (the report says UTC once)."""
    return (stamp or "")[:16].replace("T", " ")


def _label(record: RunRecord) -> str:
    # 20261128T211500Z-3fa9 -> 11-28 21:15
    run_id = record.run_id
    return f"{run_id[4:6]}-{run_id[6:8]} {run_id[9:11]}:{run_id[11:13]}"


def status_section(status: Status) -> str:
    rows = []
    for feed in status.feeds:
        success, attempt = feed.last_success, feed.last_attempt
        state = '<span class="stale">STALE</span>' if feed.stale else '<span class="ok">ok</span>'
        source = (f"{describe_age(feed.source_age_seconds)} ago" if feed.source_age_seconds is not None
                  else f"unknown: {feed.source_error}" if feed.source_error else "")
        rows.append(
            "<tr>" + "".join([
                f"<td>{_h(feed.feed)}</td><td>{state}</td>",
                f"<td>{_h(_time(success.at) if success else 'never')}</td>",
                f'<td class="num">{_h(describe_age(feed.age_seconds) if feed.age_seconds is not None else "")}</td>',
                f"<td>{_h(feed.max_age)}</td>",
                f'<td class="num">{_h(success.rows if success and success.rows is not None else "")}</td>',
                f"<td>{_h((success.file or success.status) if success else '')}</td>",
                f"<td>{_h(f'{attempt.run_id}: {attempt.status}' if attempt else '')}</td>",
                f"<td>{_h(source)}</td>",
            ]) + "</tr>"
        )
    head = "".join(f"<th>{name}</th>" for name in
                   ("feed", "state", "last delivery (UTC)", "age", "max_age", "rows", "file", "last attempt", "newest source row"))
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def charts_section(runs: list[RunRecord], feeds: list[str]) -> str:
    """The four charts over `runs` (oldest first)."""
    labels = [_label(record) for record in runs]

    def per_feed(field: str) -> dict[str, list[float | None]]:
        return {name: [getattr(record.feeds[name], field) if name in record.feeds else None for record in runs]
                for name in feeds}

    reasons = sorted({f"{name}: {reason}" for record in runs for name, entry in record.feeds.items()
                      for reason in entry.rejects})
    quarantine = {
        label: [float(record.feeds[label.split(': ', 1)[0]].rejects.get(label.split(': ', 1)[1], 0))
                if label.split(': ', 1)[0] in record.feeds else 0.0 for record in runs]
        for label in reasons
    }
    durations = [stage_seconds(record) for record in runs]
    stages = {stage: [float(item.get(stage, 0)) for item in durations] for stage in STAGES}
    sizes = {name: [None if value is None else value / 1024 for value in points] for name, points in per_feed("bytes").items()}
    return '<div class="charts">' + "".join([
        charts.line_chart("Rows per feed (file rows)", labels, per_feed("rows")),
        charts.stacked_bars("Quarantined rows per reason", labels, quarantine),
        charts.stacked_bars("Duration per stage", labels, stages, "s"),
        charts.line_chart("File size per feed", labels, sizes, " KiB"),
    ]) + "</div>"


def failures_section(records: list[RunRecord], limit: int = 10) -> str:
    failed = [record for record in records if record.status in ("failed", "interrupted")][:limit]
    if not failed:
        return "<p>No failed run in the records.</p>"
    rows = "".join(
        f"<tr><td>{_h(record.run_id)}</td><td>{_h(record.command)}</td><td>{_h(_time(record.finished_at or record.started_at))}</td>"
        f"<td>{_h(record.error_type)}</td><td><pre>{_h(record.error)}</pre></td></tr>"
        for record in failed
    )
    return f"<table><tr><th>run</th><th>command</th><th>ended (UTC)</th><th>error</th><th>message</th></tr>{rows}</table>"


def quarantine_section(settings: Settings, runs: list[RunRecord]) -> str:
    """The reasons of the newest run's quarantine, with example keys from the warehouse's rejects models."""
    latest = runs[-1] if runs else None
    try:
        from runner import warehouse
        from runner.run.paths import Paths
        from runner.run.plan import choose_feeds

        paths = Paths.of(settings)
        chosen = choose_feeds(settings, paths.dbt_project().feeds(), None)
        with warehouse.connect(paths.duckdb) as connection, warehouse.export_errors(paths.duckdb):
            examples = {feed.name: warehouse.reject_examples(connection, feed) for feed in chosen}
    except FeedsError as exc:
        note = f"<p>Example keys unavailable: {_h(str(exc).splitlines()[0])}</p>"
        examples = {}
    else:
        note = ""
    rows = []
    for name in sorted(set(examples) | set(latest.feeds if latest else ())):
        counts = latest.feeds[name].rejects if latest and name in latest.feeds else {}
        for reason in sorted(set(counts) | set(examples.get(name, {}))):
            keys = ", ".join(examples.get(name, {}).get(reason, []))
            rows.append(f'<tr><td>{_h(name)}</td><td>{_h(reason)}</td><td class="num">{_h(counts.get(reason, ""))}</td>'
                        f"<td>{_h(keys)}</td></tr>")
    if not rows:
        return note + "<p>No quarantined rows.</p>"
    return (note + "<table><tr><th>feed</th><th>reason</th><th>rows (last run)</th><th>example keys</th></tr>"
            + "".join(rows) + "</table>")


def render(settings: Settings, runs_shown: int = 30) -> str:
    """The whole report as one HTML document."""
    records = RunStore(settings.runs_dir).recent(limit=None)
    status = feed_status(settings, enabled_feeds(settings), records)
    add_source_freshness(settings, status)
    runs = [record for record in records if record.command == "run" and record.status != "running"][:runs_shown][::-1]
    stale = ", ".join(feed.feed for feed in status.stale)
    verdict = f'<span class="stale">stale: {_h(stale)}</span>' if stale else '<span class="ok">every feed delivered within its max_age</span>'
    return "".join([
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>listrak-feeds report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>listrak-feeds report</h1>",
        f'<p class="meta">{_h(socket.gethostname())}, generated {_h(_time(status.checked_at))} UTC; '
        f"{len(runs)} runs charted, oldest first. {verdict}</p>",
        "<h2>Status</h2>", status_section(status),
        f"<h2>The last {len(runs)} runs</h2>", charts_section(runs, [feed.feed for feed in status.feeds]),
        "<h2>Last failures</h2>", failures_section(records),
        "<h2>Quarantine reasons</h2>", quarantine_section(settings, runs),
        "</body></html>\n",
    ])


def write(settings: Settings, path: Path, runs_shown: int = 30) -> Path:
    """Render and write the report atomically (it may be served or mailed while rewritten)."""
    html = render(settings, runs_shown)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(html, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ConfigError(f"cannot write the report {path}: {exc.strerror}; check --output") from None
    return path
