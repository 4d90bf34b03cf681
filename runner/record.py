"""Run records: one JSON file per run under `<state_dir>/runs/`, the single owner of run history.

A record is written when the run starts and rewritten (atomically, temp file then rename) as it
progresses, so a crashed run still leaves a record saying how far it got.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from runner.errors import ConfigError, FeedsError
from runner.hashing import hash_file

if TYPE_CHECKING:
    from runner.deliver import DeliveryResult

_RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{4}")


@dataclass
class FeedRecord:
    """What happened to one feed in a run."""

    feed: str
    status: str = "pending"  # pending | exported | delivered | unchanged | failed | skipped
    mode: str | None = None  # full | delta
    #: Rows in the mart, rows new or changed since the last delivery, rows carried again because
    #: the previous file of the same name was still waiting at the destination.
    total_rows: int | None = None
    changed_rows: int | None = None
    carried_rows: int | None = None
    #: Rows in the file.
    rows: int | None = None
    bytes: int | None = None
    sha256: str | None = None
    local_path: str | None = None
    #: The local file's identity when it was written or sent (inode, size, mtime, ctime), so a later
    #: upload of the same, unchanged file can reuse `sha256` instead of reading it once more.
    file_stamp: str | None = None
    remote_path: str | None = None
    export_seconds: float | None = None
    delivery_seconds: float | None = None
    #: Quarantined source rows per reason (a row with two reasons counts under both), and the
    #: number of distinct quarantined rows, which is what the summary shows.
    rejects: dict[str, int] = field(default_factory=dict)
    rejected_rows: int | None = None
    #: Source rows left out by a documented rule, per rule (draft, unpublished, test_order, ...).
    excluded: dict[str, int] = field(default_factory=dict)
    #: Values cut to their maximum (over-length policy truncate) in rows sent, per column.
    truncated: dict[str, int] = field(default_factory=dict)
    #: Whether the delivery state advanced past this file (only after confirmed delivery).
    state_committed: bool = False
    error: str | None = None

    def apply_delivery(self, result: DeliveryResult) -> bool:
        """Write one file's delivery outcome into this record; True if it was delivered."""
        self.delivery_seconds = round(result.seconds, 3)
        if result.status != "delivered":
            self.status, self.error = "failed", result.error
            return False
        self.status, self.remote_path = "delivered", result.remote_path
        self.sha256 = result.sha256 or self.sha256
        return True


@dataclass
class RunRecord:
    """One `feeds run` (or `feeds upload`): when, what dbt said, and every feed's outcome."""

    run_id: str
    command: str
    started_at: str
    finished_at: str | None = None
    status: str = "running"  # running | success | failed
    run_date: str | None = None
    destination: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    dbt: dict[str, Any] = field(default_factory=dict)
    gates: dict[str, Any] = field(default_factory=dict)
    feeds: dict[str, FeedRecord] = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunRecord":
        known = set(FeedRecord.__dataclass_fields__)
        feeds = {
            name: FeedRecord(**{key: item for key, item in value.items() if key in known})
            for name, value in data.get("feeds", {}).items()
        }
        return cls(**{**data, "feeds": feeds})


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: UTC time plus a random suffix, e.g. 20261128T211500Z-3fa9."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunStore:
    """Reads and writes run records in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def start(self, command: str, options: dict[str, Any] | None = None) -> RunRecord:
        record = RunRecord(run_id=new_run_id(), command=command, started_at=utc_now(), options=options or {})
        self.save(record)
        return record

    def save(self, record: RunRecord) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{record.run_id}.json"
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(record.to_json(), indent=2, sort_keys=False), encoding="utf-8")
        os.replace(temporary, path)
        return path

    @contextmanager
    def recording(self, record: RunRecord) -> Iterator[None]:
        """Finish the record however the body ends; a FeedsError carries the record to the CLI."""
        try:
            yield
        except BaseException as exc:
            self.finish(record, exc)
            if isinstance(exc, FeedsError):
                exc.run_record = record
            raise
        self.finish(record)

    def finish(self, record: RunRecord, error: BaseException | None = None) -> Path:
        record.finished_at = utc_now()
        record.status = "success" if error is None else "failed"
        record.error = None if error is None else str(error)
        record.error_type = None if error is None else type(error).__name__
        return self.save(record)

    def recent(self, limit: int = 20) -> list[RunRecord]:
        """The newest records first; unreadable files are skipped, not fatal."""
        if not self.directory.is_dir():
            return []
        records = []
        for path in sorted(self.directory.glob("*.json"), reverse=True)[:limit]:
            try:
                records.append(RunRecord.from_json(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError):
                continue
        return records

    def get(self, run_id: str) -> RunRecord | None:
        """The record of one run, or None if there is none (or the id is not a run id)."""
        if not _RUN_ID.fullmatch(run_id):
            return None
        path = self.directory / f"{run_id}.json"
        if not path.is_file():
            return None
        try:
            return RunRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"run record {path} is unreadable ({exc}); remove it or pick another run") from None

    def last_with_files(self) -> RunRecord | None:
        """The newest run that exported at least one file (what `feeds upload` resends by default)."""
        for record in self.recent(limit=200):
            if any(feed.local_path for feed in record.feeds.values()):
                return record
        return None


def file_stamp(path: Path) -> str:
    """What identifies a file's content without reading it: inode, size, mtime and ctime (the last
    changes with any write or `touch`, including one that restores the mtime)."""
    stat = path.stat()
    return f"{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"


def record_hash(entry: FeedRecord, path: Path) -> None:
    """Fill in the SHA-256 of a file whose delivery failed before it could be hashed while sent."""
    if not entry.sha256 and path.is_file():
        entry.sha256 = hash_file(path)[1]
