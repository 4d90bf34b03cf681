"""Destination `local`: copy files into a directory, atomically (temporary name, then rename)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from runner.config import DestinationSettings
from runner.deliver import Delivered, Destination, Digest, ProgressCallback, Upload, part_name
from runner.deliver.registry import Protocol
from runner.errors import DeliveryError
from runner.faults import checkpoint
from runner.permissions import directory_mode, make_dirs

_CHUNK = 1 << 20


class LocalDestinationSettings(DestinationSettings):
    type: Literal["local"] = "local"
    path: Path = Path("delivered")
    create_dirs: bool = True
    file_mode: str = Field(
        "0600",
        description="permissions of delivered files, octal; the files hold customer e-mails, so only the owner "
        "reads them unless this says otherwise (e.g. \"0640\" for a group that picks them up)",
    )

    @field_validator("file_mode", mode="before")
    @classmethod
    def _octal(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML reads an unquoted 0640 as the number 416, and 640 as six hundred and forty.
            raise ValueError('write the mode quoted, as octal digits, e.g. file_mode: "0640"')
        if isinstance(value, str) and not re.fullmatch(r"0?[0-7]{3}", value):
            raise ValueError('must be an octal permission mode such as "0600" or "0640"')
        return value

    @property
    def mode(self) -> int:
        return int(self.file_mode, 8)


class LocalDestination(Destination):
    """Deliver into a directory on this machine (a mounted share, or a test's folder)."""

    kind = "local"

    def __init__(self, directory: Path, create_dirs: bool = True, file_mode: int = 0o600) -> None:
        self.directory = Path(directory)
        self.create_dirs = create_dirs
        #: Delivered files hold customer e-mails: owner-only unless configured (destination.file_mode).
        self.file_mode = file_mode

    def describe(self) -> str:
        return str(self.directory)

    def open(self) -> None:
        if not self.directory.is_dir():
            if not self.create_dirs:
                raise DeliveryError(
                    f"destination directory {self.directory} does not exist; create it or set "
                    "destination.create_dirs: true"
                )
            try:
                make_dirs(self.directory, directory_mode(self.file_mode))
            except OSError as exc:
                raise DeliveryError(f"cannot create destination directory {self.directory}: {exc.strerror}") from exc

    def exists(self, remote_name: str) -> bool:
        return (self.directory / remote_name).is_file()

    def names(self) -> list[str]:
        try:
            return [entry.name for entry in self.directory.iterdir() if entry.is_file()]
        except OSError as exc:
            raise DeliveryError(f"cannot list destination directory {self.directory}: {exc.strerror}") from exc

    def remove(self, name: str) -> None:
        try:
            (self.directory / name).unlink(missing_ok=True)
        except OSError as exc:
            raise DeliveryError(f"cannot remove {self.directory / name}: {exc.strerror}") from exc

    def rename(self, source: str, target: str) -> None:
        if (self.directory / target).exists():
            raise DeliveryError(f"cannot rename {source} to {target} in {self.directory}: {target} exists")
        try:
            os.rename(self.directory / source, self.directory / target)
        except OSError as exc:
            raise DeliveryError(f"cannot rename {source} to {target} in {self.directory}: {exc.strerror}") from exc

    def deliver_one(self, upload: Upload, progress: ProgressCallback | None = None) -> Delivered:
        final = self.directory / upload.remote_name
        temporary = self.directory / part_name(upload.remote_name)
        total = upload.local_path.stat().st_size
        sent = 0
        digest = Digest(upload)
        try:
            with open(upload.local_path, "rb") as src, open(temporary, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    dst.write(chunk)
                    digest.update(chunk)
                    sent += len(chunk)
                    if progress:
                        progress(upload.local_path, sent, total)
                    checkpoint("upload")
                dst.flush()
                # Explicitly, not through the umask: the mode is the configured one whatever the umask.
                os.fchmod(dst.fileno(), self.file_mode)
                os.fsync(dst.fileno())
            if temporary.stat().st_size != total:
                raise DeliveryError(f"{temporary}: wrote {temporary.stat().st_size} bytes, expected {total}")
            checkpoint("rename")
            os.replace(temporary, final)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise DeliveryError(f"cannot deliver {upload.local_path.name} to {self.directory}: {exc.strerror}") from exc
        except DeliveryError:
            temporary.unlink(missing_ok=True)
            raise
        return Delivered(str(final), digest.hexdigest())

    def check(self) -> list[str]:
        self.open()
        probe = self.directory / ".feeds-check.tmp"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise DeliveryError(f"destination directory {self.directory} is not writable: {exc.strerror}") from exc
        return [f"local: {self.directory} is writable"]


def _make(settings: LocalDestinationSettings, base_dir: Path) -> LocalDestination:
    path = settings.path.expanduser()
    directory = path if path.is_absolute() else base_dir / path
    return LocalDestination(directory, create_dirs=settings.create_dirs, file_mode=settings.mode)


PROTOCOL = Protocol("local", LocalDestinationSettings, _make)

__all__ = ["LocalDestination", "LocalDestinationSettings", "PROTOCOL"]
