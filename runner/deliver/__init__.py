"""Delivery: move finished feed files to where Listrak (or a test) picks them up.

Delivery moves files; it never imports dbt or DuckDB. Every destination implements
:class:`Destination`, so a new one (FTPS, object storage) is one new module.
A destination must make each file appear under its final name atomically: a reader of the
destination never sees a partial file under the final name.
"""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from runner.errors import DeliveryError
from runner.hashing import hash_into

if TYPE_CHECKING:
    from runner.config import Settings

#: Called with (local path, bytes sent so far, total bytes) while a file moves.
ProgressCallback = Callable[[Path, int, int], None]


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
    """A place feed files are delivered to. Use as a context manager."""

    #: Short name shown in summaries and run records ("local", "sftp").
    kind: str = "destination"
    #: How many files may be delivered at once (deliver_one is called from that many threads).
    concurrency: int = 1

    def __enter__(self) -> "Destination":
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
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
        """Whether a file of this final name is at the destination now (e.g. not yet picked up)."""
        raise NotImplementedError

    def check(self) -> list[str]:
        """Prove the destination is reachable and writable; return lines to show the user."""
        return [f"{self.kind}: {self.describe()}"]

    def deliver_all(
        self, uploads: Sequence[Upload], progress: ProgressCallback | None = None
    ) -> list[DeliveryResult]:
        """Deliver every file, one failure not stopping the others. Destinations may overlap work."""
        results = []
        for upload in uploads:
            results.append(timed(self.deliver_one, upload, progress))
        return results


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
    """The destination the configuration names (SFTP or a local directory), not yet opened."""
    destination = settings.destination
    if destination.type == "sftp":
        from runner.deliver.sftp import SftpDestination

        return SftpDestination(destination, project_dir=settings.base_dir)
    from runner.deliver.local import LocalDestination

    return LocalDestination(settings.resolve(destination.path), create_dirs=destination.create_dirs, file_mode=destination.mode)


def still_waiting(destination: Destination | None, name: str) -> bool:
    """Whether a file of this name may still be waiting at the destination (not picked up yet)."""
    if destination is None:
        # --no-upload: the file may be uploaded later over a waiting one; carry its rows to be safe.
        return True
    try:
        return destination.exists(name)
    except NotImplementedError:
        return True  # cannot tell: carry the rows, a repeat is harmless
