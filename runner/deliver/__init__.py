"""Delivery: move finished feed files to where Listrak (or a test) picks them up.

Delivery moves files; it never imports dbt or DuckDB. Every destination implements
:class:`Destination`, so a new one (FTPS, object storage) is one new module (its settings model,
variables, secrets and factory in a `registry.Protocol`) plus one line in `registry._builtin`.
A network protocol reuses `retry.ConnectionPool` and `retry.Retrier` by supplying connect and
classify, and `remote.RemoteDestination` (paths, lookups, moves, clean-up after a failure) by
supplying the primitives on one session. The destination owns the concurrency of its deliveries (`submit`, `deliver_all`).
A destination must make each file appear under its final name atomically: a reader of the
destination never sees a partial file under the final name.

Temporary names beside a feed file NAME are hidden and never end in a feed extension: ``.NAME.part``
(an upload in progress) and ``.NAME.old`` (a waiting file moved aside by a replace without atomic
rename). A run calls `tidy` before it plans its files, so leftovers of interrupted deliveries of any
feed file name go, and a waiting file moved aside by a replace that never finished is put back
under NAME, where the plan sees it waiting and carries its rows.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from runner.errors import DeliveryError
from runner.hashing import hash_into

if TYPE_CHECKING:
    from runner.config import Settings

log = logging.getLogger(__name__)

#: Called with (local path, bytes sent so far, total bytes) while a file moves.
ProgressCallback = Callable[[Path, int, int], None]
#: Whether a file name is one of this project's feed file names (of any date).
FeedFileMatcher = Callable[[str], bool]

_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<kind>part|old)")


def part_name(name: str) -> str:
    """The temporary name a file is uploaded under before it is renamed to `name`."""
    return f".{name}.part"


def aside_name(name: str) -> str:
    """Where a waiting file `name` is moved while a replace without atomic rename puts the new one in."""
    return f".{name}.old"


def temporary_of(entry: str, is_feed_file: FeedFileMatcher) -> tuple[str, str] | None:
    """(feed file name, "part" | "old") if `entry` is one of our temporaries of a feed file, else None."""
    match = _TEMPORARY.fullmatch(entry)
    if match is None or not is_feed_file(match["name"]):
        return None
    return match["name"], match["kind"]


@dataclass(frozen=True)
class Upload:
    """One file to deliver: the local file and the name it must have at the destination."""

    local_path: Path
    remote_name: str
    #: The file's SHA-256 if already known; else the destination computes it from the bytes it sends.
    sha256: str | None = None


@dataclass(frozen=True)
class Delivered:
    """One file under its final name at the destination."""

    remote_path: str
    #: SHA-256 of the bytes delivered (or the one the Upload brought).
    sha256: str


@dataclass
class DeliveryResult:
    """What happened to one file."""

    local_path: Path
    remote_path: str | None
    bytes: int
    seconds: float
    status: str  # "delivered" | "failed"
    error: str | None = None
    sha256: str | None = None


class Digest:
    """SHA-256 of the bytes a destination reads while sending a file, unless the Upload knows it."""

    def __init__(self, upload: Upload) -> None:
        self.known = upload.sha256
        self._hash = None if upload.sha256 else hashlib.sha256()

    def restart(self, local: Path, offset: int) -> None:
        """A new attempt sends from `offset`: hash the bytes before it again from the local file."""
        if self._hash is None:
            return
        self._hash = hashlib.sha256()
        if offset:
            hash_into(self._hash, local, limit=offset)

    def update(self, data: bytes | memoryview) -> None:
        if self._hash is not None:
            self._hash.update(data)

    def hexdigest(self) -> str:
        return self.known or self._hash.hexdigest()  # type: ignore[union-attr]


class Destination(ABC):
    """A place feed files are delivered to. Use as a context manager.

    The destination owns the concurrency of its deliveries: `submit` runs `deliver_one` on the
    destination's own workers, at most `concurrency` at once, and `deliver_all` is built on it.
    """

    #: Short name shown in summaries and run records ("local", "sftp").
    kind: str = "destination"
    #: How many files may be delivered at once (deliver_one is called from that many threads).
    concurrency: int = 1
    _workers: ThreadPoolExecutor | None = None
    _workers_lock = threading.Lock()

    def __enter__(self) -> "Destination":
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.finish()
        finally:
            self.close()

    def open(self) -> None:
        """Connect or prepare; raise DeliveryError with a clear message on failure."""

    def close(self) -> None:
        """Release connections."""

    @abstractmethod
    def describe(self) -> str:
        """Where files go, for messages (never contains a secret)."""

    @abstractmethod
    def deliver_one(self, upload: Upload, progress: ProgressCallback | None = None) -> Delivered:
        """Deliver one file atomically; return its final remote path and the SHA-256 of what was sent."""

    def exists(self, remote_name: str) -> bool:
        """Whether a file of this final name is at the destination now (e.g. not yet picked up), or
        moved aside by a replace that did not finish."""
        raise NotImplementedError

    def names(self) -> list[str]:
        """Names of the files in the destination directory now."""
        raise NotImplementedError

    def remove(self, name: str) -> None:
        """Remove file `name` from the destination directory if it is there."""
        raise NotImplementedError

    def rename(self, source: str, target: str) -> None:
        """Rename `source` to `target` (which must not exist) in the destination directory."""
        raise NotImplementedError

    def leftovers(self, is_feed_file: FeedFileMatcher) -> list[str]:
        """Temporary files of feed file names that interrupted deliveries left here, one line each
        saying what the next delivery does with it (see `tidy`)."""
        return [
            f"{entry}: the next delivery {f'puts it back as {name}' if name else 'removes it'} ({reason})"
            for entry, name, reason in self._leftovers(is_feed_file)
        ]

    def tidy(self, is_feed_file: FeedFileMatcher) -> list[str]:
        """Deal with every leftover temporary of a feed file name; return what was done, one line each.

        ``.NAME.part`` is removed. ``.NAME.old`` is put back under NAME when NAME is absent (the replace
        stopped between its renames, so it is the only copy of a file not yet picked up) and removed
        when NAME is there (the replace did rename the new file, which carries its rows, into place).
        Other files are never touched.
        """
        done = []
        for entry, name, reason in self._leftovers(is_feed_file):
            if name is None:
                self.remove(entry)
                done.append(f"removed {entry} ({reason})")
            else:
                self.rename(entry, name)
                done.append(f"put {entry} back as {name} ({reason})")
            log.warning("%s: %s", self.describe(), done[-1])
        return done

    def _leftovers(self, is_feed_file: FeedFileMatcher) -> list[tuple[str, str | None, str]]:
        """(temporary, the name to put it back as or None to remove it, why), for each leftover."""
        present = set(self.names())
        found = []
        for entry in sorted(present):
            temporary = temporary_of(entry, is_feed_file)
            if temporary is None:
                continue
            name, kind = temporary
            if kind == "part":
                found.append((entry, None, "an upload that did not finish"))
            elif name in present:
                found.append((entry, None, f"{name}, which replaced it and carries its rows, is in place"))
            else:
                found.append((entry, name, "a replace of that waiting file did not finish"))
                present.add(name)
        return found

    def check(self) -> list[str]:
        """Prove the destination is reachable and writable; return lines to show the user."""
        return [f"{self.kind}: {self.describe()}"]

    def submit(self, upload: Upload, progress: ProgressCallback | None = None) -> Future[DeliveryResult]:
        """Start delivering one file; its result (never an exception: a failure is a failed result) comes
        from the future. Up to `concurrency` files move at once, so `progress` may be called from several
        threads at once."""
        with Destination._workers_lock:
            if self._workers is None:
                self._workers = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=f"deliver-{self.kind}")
            workers = self._workers
        return workers.submit(timed, self.deliver_one, upload, progress)

    def finish(self) -> None:
        """Wait for the deliveries submitted so far and stop the workers (called on leaving the `with`)."""
        with Destination._workers_lock:
            workers, self._workers = self._workers, None
        if workers is not None:
            workers.shutdown(wait=True)

    def deliver_all(
        self, uploads: Sequence[Upload], progress: ProgressCallback | None = None
    ) -> list[DeliveryResult]:
        """Deliver every file, one failure not stopping the others, up to `concurrency` at once."""
        return [future.result() for future in [self.submit(upload, progress) for upload in uploads]]


def timed(
    deliver: Callable[[Upload, ProgressCallback | None], Delivered],
    upload: Upload,
    progress: ProgressCallback | None,
) -> DeliveryResult:
    """Deliver one file and describe the outcome; a failure of any kind is a failed result, not a raise."""
    started = time.perf_counter()
    size = 0
    try:
        size = upload.local_path.stat().st_size
        delivered = deliver(upload, progress)
    except DeliveryError as exc:
        return DeliveryResult(upload.local_path, None, size, time.perf_counter() - started, "failed", str(exc))
    except Exception as exc:  # noqa: BLE001  an unexpected failure still must not lose the other files
        message = f"unexpected {type(exc).__name__} delivering {upload.local_path.name}: {exc}"
        return DeliveryResult(upload.local_path, None, size, time.perf_counter() - started, "failed", message)
    return DeliveryResult(
        upload.local_path, delivered.remote_path, size, time.perf_counter() - started, "delivered",
        sha256=delivered.sha256,
    )


def make_destination(settings: Settings) -> Destination:
    """The destination the configuration names (its protocol's factory, see `registry`), not yet opened."""
    from runner.deliver import registry

    return registry.make_destination(settings.destination, settings.base_dir)


def still_waiting(destination: Destination | None, name: str) -> bool:
    """Whether a file of this name may still be waiting at the destination (not picked up yet),
    counting one moved aside by an unfinished replace."""
    if destination is None:
        # --no-upload: the file may be uploaded later over a waiting one; carry its rows to be safe.
        return True
    try:
        return destination.exists(name)
    except NotImplementedError:
        return True  # cannot tell: carry the rows, a repeat is harmless
