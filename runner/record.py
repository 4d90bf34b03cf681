"""Run records: one JSON file per run under `<state_dir>/runs/`, the single owner of run history.

A record is written when the run starts and rewritten (atomically, temp file then rename) as it
progresses, so a crashed run still leaves a record saying how far it got.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from runner.errors import ConfigError, FeedsError
from runner.hashing import hash_file

if TYPE_CHECKING:
    from runner.deliver import DeliveryResult

_RUN_ID = re.compile(r"\d{8}T\d{6}(\d{3})?Z-[0-9a-f]{4}")  # milliseconds since 2026-12 (older ids have none)


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
    #: Rows fingerprinted to find them: in a delta only those a build rewrote since the last
    #: delivery and those carried (every row when the state cannot tell); every row in full mode.
    fingerprinted_rows: int | None = None
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
    #: encoding ascii: characters with no ASCII form left out of the file, per column.
    dropped: dict[str, int] = field(default_factory=dict)
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
    #: running | success | failed; `interrupted` is how a running record whose process is gone reads.
    status: str = "running"
    run_date: str | None = None
    destination: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    dbt: dict[str, Any] = field(default_factory=dict)
    gates: dict[str, Any] = field(default_factory=dict)
    feeds: dict[str, FeedRecord] = field(default_factory=dict)
    #: `feeds sample`: rows asked for, and which kinds of row (traits) the sample covers.
    sample: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None
    #: The process that writes this record, so a reader can tell a live run from one killed mid-way.
    pid: int | None = None
    host: str | None = None
    #: When that process started (kernel clock ticks since boot), so a reused pid is not taken for it.
    process_start: str | None = None

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
    """Sortable and unique: UTC time to the millisecond plus a random suffix, e.g. 20261128T211500042Z-3fa9.

    The milliseconds keep runs started within one second (a `feeds sample` right after a `feeds
    run`) in the order they started: history, and the "last run with files" that `feeds upload`
    resends, read the records in run id order."""
    if now is None:
        with _ID_LOCK:  # within one process, ids also follow one another when started in the same millisecond
            now = max(datetime.now(timezone.utc), _LAST_ID_TIME[0] + timedelta(milliseconds=1))
            _LAST_ID_TIME[0] = now
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{secrets.token_hex(2)}"


_ID_LOCK = threading.Lock()
_LAST_ID_TIME = [datetime.min.replace(tzinfo=timezone.utc)]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunStore:
    """Reads and writes run records in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def start(self, command: str, options: dict[str, Any] | None = None) -> RunRecord:
        record = RunRecord(
            run_id=new_run_id(), command=command, started_at=utc_now(), options=options or {},
            pid=os.getpid(), host=socket.gethostname(), process_start=_process_start(os.getpid()),
        )
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

    def recent(self, limit: int | None = 20) -> list[RunRecord]:
        """The newest records first (all of them with `limit` None); unreadable files are skipped, not fatal."""
        if not self.directory.is_dir():
            return []
        records = []
        for path in sorted(self.directory.glob("*.json"), reverse=True)[:limit]:
            try:
                records.append(_settled(RunRecord.from_json(json.loads(path.read_text(encoding="utf-8")))))
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
            return _settled(RunRecord.from_json(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"run record {path} is unreadable ({exc}); remove it or pick another run") from None

    def last_build(self, exclude: str | None = None) -> RunRecord | None:
        """The newest run (`feeds run` or `feeds build`) that ran dbt build to its end, bar `exclude`."""
        for record in self.recent(limit=200):
            if record.run_id != exclude and record.dbt:
                return record
        return None

    def feed_history(self) -> tuple[dict[str, str], set[str]]:
        """Over every `feeds run` record: the newest run that committed each feed's delivery state
        (feed -> run id), and the feeds any run exported a file of."""
        committed: dict[str, str] = {}
        exported: set[str] = set()
        for record in self.recent(limit=None):
            if record.command != "run":
                continue
            for name, entry in record.feeds.items():
                if entry.state_committed:
                    committed.setdefault(name, record.run_id)
                if entry.local_path:
                    exported.add(name)
        return committed, exported

    def last_with_files(self) -> RunRecord | None:
        """The newest run that exported at least one file (what `feeds upload` resends by default); never
        a `feeds sample`, whose files are not feed files."""
        for record in self.recent(limit=200):
            if record.command != "sample" and any(feed.local_path for feed in record.feeds.values()):
                return record
        return None


def _settled(record: RunRecord) -> RunRecord:
    """A `running` record whose process is gone (SIGKILL, OOM kill, power cut) reads as `interrupted`.

    Only the reading changes, not the file: a live run rewrites its record as it goes, and a reader
    must never race it. A run on another host cannot be checked from here and stays `running`.
    """
    local = record.pid and record.host == socket.gethostname()
    if record.status == "running" and local and not _alive(record.pid, record.process_start):
        record.status = "interrupted"
        record.error = record.error or f"the process (pid {record.pid}) ended without finishing this record"
    return record


def _alive(pid: int, process_start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a process of another user: alive, and not ours, which the start time below settles
    started = _process_start(pid)
    if started == "zombie":
        return False
    # A different start time means the pid was reused by another process after ours died.
    return not (process_start and started and started != process_start)


def _process_start(pid: int) -> str | None:
    """The start time of a process from /proc (Linux), "zombie" for a dead unreaped one, else None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # Fields after the parenthesised command name (which may hold spaces): state is the first,
    # starttime the 20th (field 22 of proc(5)).
    fields = text[text.rfind(")") + 2:].split()
    if len(fields) < 20:
        return None
    return "zombie" if fields[0] in ("Z", "X") else fields[19]


def file_stamp(path: Path) -> str:
    """What identifies a file's content without reading it: inode, size, mtime and ctime (the last
    changes with any write or `touch`, including one that restores the mtime)."""
    stat = path.stat()
    return f"{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"


def record_hash(entry: FeedRecord, path: Path) -> None:
    """Fill in the SHA-256 of a file whose delivery failed before it could be hashed while sent."""
    if not entry.sha256 and path.is_file():
        entry.sha256 = hash_file(path)[1]
