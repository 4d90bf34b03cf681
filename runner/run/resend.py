"""`feeds upload` and `feeds resend`: deliver files that already exist, and record what was sent.

Delivery state is not touched: it advances only in `feeds run`, for the rows of the file it
exported. Like delivery itself, nothing here imports dbt or DuckDB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from runner.config import Settings
from runner.deliver import Upload, make_destination, still_waiting
from runner.errors import ConfigError, DeliveryError, GateRefused
from runner.lock import run_lock
from runner.record import FeedRecord, RunRecord, RunStore, file_stamp, record_hash
from runner.reporter import Reporter
from runner.run.paths import Paths
from runner.run.progress import Progress


def upload(
    settings: Settings,
    paths: list[Path],
    reporter: Reporter,
    command: str = "upload",
    force: bool = False,
    earlier: RunRecord | None = None,
) -> RunRecord:
    """Deliver existing files (given, or those of the last run that exported files) again.

    A file of the same name still waiting at the destination is not replaced unless forced: it may
    hold rows the given file lacks, which Listrak would then never import.
    """
    where = Paths.of(settings)
    store = RunStore(where.runs_dir)
    last = store.last_with_files()
    if not paths:
        if last is None:
            raise ConfigError("no files given and no earlier run exported any; pass FILES or run `feeds run` first")
        paths = [Path(feed.local_path) for feed in last.feeds.values() if feed.local_path]
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"file {path} does not exist (local files of old runs are removed after keep_runs runs)")
    record = store.start(command, {"files": [str(path) for path in paths]})
    run = Progress(record, store, reporter)
    with store.recording(record):
        with run_lock(where.state_dir, record.run_id, reporter.warn):
            destination = make_destination(settings)
            record.destination = f"{destination.kind}:{destination.describe()}"
            # Files an earlier run wrote keep their recorded hash; others are hashed as they are sent.
            known = _known_hashes([earlier, last])
            uploads = [Upload(path, path.name, known.get(path.resolve())) for path in paths]
            for path in paths:
                record.feeds[path.name] = FeedRecord(
                    feed=path.name, local_path=str(path.resolve()), bytes=path.stat().st_size,
                    file_stamp=file_stamp(path), sha256=known.get(path.resolve()),
                )
            with destination:
                waiting = [upload.remote_name for upload in uploads if still_waiting(destination, upload.remote_name)]
                if waiting and not force:
                    for entry in record.feeds.values():
                        entry.status = "skipped"
                    raise GateRefused(
                        f"{', '.join(waiting)} still waiting at {destination.describe()} (not imported yet); replacing "
                        "it could lose rows it holds. Wait until Listrak picks it up, or pass --force"
                    )
                record.gates = {"refused": waiting, "forced": bool(waiting)}
                reporter.stage("deliver", f"{destination.kind}: {destination.describe()}")
                failed: list[str] = []
                for result in destination.deliver_all(uploads, reporter.transfer):
                    reporter.delivered(result)
                    entry = record.feeds[result.local_path.name]
                    if not entry.apply_delivery(result):
                        failed.append(f"{result.local_path.name}: {result.error}")
                        record_hash(entry, result.local_path)
                    run.checkpoint("delivered")
            if failed:
                raise DeliveryError("delivery failed for " + "; ".join(failed))
    return record


def resend(settings: Settings, run_id: str, reporter: Reporter, force: bool = False) -> RunRecord:
    """Deliver the files of an earlier run again, under their original names."""
    runs_dir = Paths.of(settings).runs_dir
    earlier = RunStore(runs_dir).get(run_id)
    if earlier is None:
        raise ConfigError(f"no run {run_id!r} in {runs_dir}; `feeds history` lists the runs")
    paths = [Path(feed.local_path) for feed in earlier.feeds.values() if feed.local_path]
    if not paths:
        raise ConfigError(f"run {run_id} exported no files, so there is nothing to resend")
    return upload(settings, paths, reporter, command=f"resend {run_id}", force=force, earlier=earlier)


def _known_hashes(records: Sequence[RunRecord | None]) -> dict[Path, str]:
    """SHA-256 of files these runs wrote or sent that are unchanged since (same file_stamp)."""
    known: dict[Path, str] = {}
    for earlier in records:
        for entry in earlier.feeds.values() if earlier else ():
            if not (entry.local_path and entry.sha256 and entry.file_stamp):
                continue
            path = Path(entry.local_path).resolve()
            try:
                unchanged = file_stamp(path) == entry.file_stamp
            except OSError:
                continue
            if unchanged:
                known.setdefault(path, entry.sha256)
    return known
