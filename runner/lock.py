"""One run at a time: an exclusive lock on `<state_dir>/run.lock`.

The lock is an OS file lock (flock), so the kernel releases it when its holder dies, however it
dies. The file also says who holds it (pid, host, start time); a run that finds that text but
gets the lock knows the previous holder died without cleaning up, and says so.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from runner.errors import RunLocked


@contextmanager
def run_lock(state_dir: Path, run_id: str, warn: Callable[[str], None]) -> Iterator[None]:
    """Hold the run lock for the body; raise RunLocked if another live run holds it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "run.lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(descriptor)
            raise RunLocked(
                f"another feeds run holds {path} ({_describe(holder)}); it must finish first. "
                "Schedule runs further apart if this repeats"
            ) from None
        stale = _read(descriptor)
        if stale:
            warn(f"the previous run ({_describe(stale)}) ended without releasing {path}; taking the lock over")
        _write(descriptor, {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "run_id": run_id,
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        })
        try:
            yield
        finally:
            os.ftruncate(descriptor, 0)
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _read(descriptor: int) -> dict[str, object]:
    os.lseek(descriptor, 0, os.SEEK_SET)
    text = os.read(descriptor, 4096).decode("utf-8", "replace").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"raw": text[:200]}
    return value if isinstance(value, dict) else {}


def _write(descriptor: int, holder: dict[str, object]) -> None:
    os.ftruncate(descriptor, 0)
    os.lseek(descriptor, 0, os.SEEK_SET)
    os.write(descriptor, json.dumps(holder).encode("utf-8"))
    os.fsync(descriptor)


def _describe(holder: dict[str, object]) -> str:
    if not holder:
        return "holder unknown"
    return f"run {holder.get('run_id', '?')}, pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('started_at', '?')}"
