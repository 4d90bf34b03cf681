"""`feeds sample`: onboarding samples of every feed file, for Listrak's project manager to check
before imports are switched on.

Builds the marts (or reuses them, as `feeds run --skip-build` does), picks a varied and consistent
slice of them (runner.warehouse.sample), writes each feed's file in its configured format under a
name Listrak does not import automatically (`sample_prefix` + the feed file name, in `samples_dir`
if set) and delivers it through the configured destination. The delivery state is never opened,
so the next `feeds run` sends exactly what it would have; the run is recorded as a `sample` run.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import PurePosixPath

from runner import warehouse
from runner.config import DestinationSettings, Settings
from runner.deliver import Upload, make_destination
from runner.errors import ConfigError, DataTestsFailed, DeliveryError, FeedsError
from runner.lock import run_lock
from runner.record import FeedRecord, RunRecord, RunStore, file_stamp
from runner.reporter import Reporter
from runner.run import execute, preflight
from runner.run.paths import Paths
from runner.run.plan import RunOptions, resolve
from runner.run.progress import Progress
from runner.validate import validate
from runner.warehouse import export as export_step
from runner.warehouse import sample as sampling

DEFAULT_ROWS = 100


def sample(settings: Settings, options: RunOptions, rows: int, reporter: Reporter) -> RunRecord:
    """Build (unless options.build is off), pick, export and deliver the sample files; record the run."""
    if rows < 1:
        raise ConfigError(f"--rows {rows}: a sample needs at least 1 row per file")
    check_names(settings)
    paths = Paths.of(settings)
    store = RunStore(paths.runs_dir)
    run = Progress(store.start("sample", {**options.to_json(), "rows": rows}), store, reporter)
    with store.recording(run.record):
        with run_lock(paths.state_dir, run.record.run_id, reporter.warn):
            warehouse.require_file(paths.duckdb)
            reporter.stage("parse", str(paths.project_dir))
            plan = resolve(settings, options, paths.dbt_project().feeds())
            record = run.record
            record.run_date = plan.run_date.isoformat()
            for spec in plan.feeds:
                record.feeds[spec.name] = FeedRecord(feed=spec.name, mode="sample")
            if plan.build:
                # Every declared feed's marts: the sample of one file follows the rows of the others.
                execute._build(replace(plan, feeds=plan.declared), run)
            else:
                preflight.check_last_build(run.store, record, plan.destination is not None, plan.force, reporter)
            out_dir = paths.output_dir / record.run_id
            reporter.stage("export", str(out_dir))
            uploads: list[Upload] = []
            with warehouse.connect(paths.duckdb) as connection, warehouse.export_errors(paths.duckdb):
                picked = sampling.pick(connection, {spec.name: spec.feed for spec in plan.declared}, rows)
                record.sample = {
                    "rows": rows,
                    "traits": {trait.name: "sampled" if trait.in_sample else ("missing" if trait.in_marts else "none in marts")
                               for trait in picked.traits},
                }
                for trait in picked.traits:
                    if trait.in_marts and not trait.in_sample:
                        reporter.warn(f"the sample has no {trait.name} (the marts do); raise --rows to include one")
                for spec in plan.feeds:
                    name = settings.sample_prefix + spec.file_name(plan.run_date)
                    entry = record.feeds[spec.name]
                    try:
                        result = export_step.export_feed(
                            connection, replace(spec.feed, relation=picked.relations[spec.name]), spec.format,
                            out_dir, name,
                        )
                    except FeedsError as exc:
                        entry.status, entry.error = "failed", str(exc)
                        raise
                    entry.status, entry.rows, entry.bytes, entry.sha256 = "exported", result.rows, result.bytes, result.sha256
                    entry.local_path, entry.export_seconds = str(result.path), round(result.seconds, 3)
                    entry.file_stamp, entry.dropped = file_stamp(result.path), result.dropped
                    if result.dropped:
                        reporter.warn(execute.dropped_message(spec.name, result.dropped))
                    run.checkpoint("exported")
                    # The project manager checks these files first: each must meet its contract as
                    # `feeds validate` reads it, or nothing is delivered.
                    problems = validate(result.path, spec.feed, spec.format, limit=5).problems
                    if problems:
                        entry.status, entry.error = "failed", f"{len(problems)} problems against the {spec.name} contract"
                        raise DataTestsFailed(
                            f"sample file {result.path} fails `feeds validate`; nothing was delivered:\n"
                            + "\n".join(f"  row {p.row} {p.column or ''} {p.rule}: {p.message}" for p in problems)
                        )
                    reporter.exported(spec.name, result.rows, result.bytes, result.path)
                    uploads.append(Upload(result.path, result.path.name, result.sha256))
            if plan.destination is not None:
                _deliver(settings, uploads, run)
    execute.remove_old_outputs(paths.output_dir, plan.keep_runs)
    return run.record


def check_names(settings: Settings) -> None:
    """sample_prefix and samples_dir: plain names, and never the feed file names Listrak imports."""
    prefix, folder = settings.sample_prefix, settings.samples_dir
    if any(char in prefix for char in "/\\\r\n") or prefix.startswith("."):
        raise ConfigError(f"sample_prefix {prefix!r} must be plain text to start a file name: no / or \\ or line break, "
                          "not starting with '.'")
    if folder is not None and (not folder.strip() or ".." in re.split(r"[/\\]", folder) or any(c in folder for c in "\r\n")):
        raise ConfigError(f"samples_dir {folder!r} must be a folder under the destination's folder, e.g. samples "
                          "(no .., no line break)")
    if not prefix and not folder:
        raise ConfigError("sample_prefix is empty and samples_dir unset, so the samples would carry the feed file names "
                          "Listrak imports automatically; keep a prefix (default Sample_) or set samples_dir")


def _deliver(settings: Settings, uploads: list[Upload], run: Progress) -> None:
    """Through the configured destination, into `samples_dir` under its folder when set; sample names
    are not feed names, so a waiting sample is simply replaced (Listrak does not import it)."""
    destination = make_destination(settings.model_copy(update={"destination": sample_destination(settings)}))
    record, reporter = run.record, run.reporter
    record.destination = f"{destination.kind}:{destination.describe()}"
    reporter.stage("deliver", f"{destination.kind}: {destination.describe()}")
    by_path = {entry.local_path: entry for entry in record.feeds.values()}
    failed = []
    with destination:
        for result in destination.deliver_all(uploads, reporter.transfer):
            reporter.delivered(result)
            entry = by_path[str(result.local_path)]
            if not entry.apply_delivery(result):
                failed.append(f"{result.local_path.name}: {result.error}")
            run.checkpoint("delivered")
    if failed:
        raise DeliveryError("delivery of the samples failed for " + "; ".join(failed))


#: The settings key of each kind of destination that names the folder files go to.
_FOLDER_KEYS = ("remote_dir", "path")


def sample_destination(settings: Settings) -> DestinationSettings:
    """The destination settings with `samples_dir` appended to its folder (unchanged when unset)."""
    destination = settings.destination
    if not settings.samples_dir:
        return destination
    fields = type(destination).model_fields
    key = next((key for key in _FOLDER_KEYS if key in fields), None)
    if key is None:
        raise ConfigError(
            f"samples_dir is set but destination type {destination.type} names no folder to put it under; "
            "unset samples_dir and keep a sample_prefix"
        )
    folder = getattr(destination, key)
    joined = PurePosixPath(str(folder)) / settings.samples_dir
    return destination.model_copy(update={key: type(folder)(str(joined)) if not isinstance(folder, str) else str(joined)})
