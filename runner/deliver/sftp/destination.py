"""Destination `sftp`: upload feed files to an SSH server with paramiko, atomically and fast.

Each file is written to a temporary name in the target directory (``.NAME.part``: hidden, and not
ending in a feed extension, so an importer watching for known names never picks it up), its remote
size is checked against the local size, and only then is it renamed to its final name.

Rename: when the server offers ``posix-rename@openssh.com`` the temporary file atomically replaces
the final one. Without it, SFTP's plain rename refuses to overwrite, so an existing final file is
first renamed aside to ``.NAME.old``, the temporary file renamed into place, and ``.NAME.old``
removed. In that fallback the final name is briefly absent, never partial, and no interruption
loses the waiting file: ``.NAME.old`` is removed only while a complete file that carries its rows
is under NAME (see `runner.warehouse.state`), `exists` counts it as a waiting file, a failed delivery puts it
back when nothing replaced it, and so does `tidy` before the next run plans its files. A delivery is
confirmed only once ``.NAME.old`` is gone. With ``replace_existing: false`` an existing final file
is an error.

Every remote operation (the remote-directory lookup, the waiting-file check, stat, rename, remove,
mkdir, listing, the upload) goes through `_retrying` (runner.deliver.retry): transient failures (reset, EOF, timeout) are
retried with exponential backoff and jitter on a new connection, and each step is safe to repeat
(a rename whose answer was lost is found done). The upload resumes from the remote size of the
temporary file after checking its tail against the local file. Host-key and authentication
failures are never retried. A failed delivery removes its temporary file when the server is still
reachable; otherwise the next delivery to the destination removes it (`tidy`).

The retry loop and the connection pool are the shared ones (runner.deliver.retry); connecting is
`session.Connector`'s, and the fast write path is in `wire`.
"""

from __future__ import annotations

import logging
import secrets
import stat
import time
from pathlib import Path, PurePosixPath
from typing import Callable

from runner.deliver import Delivered, Digest, ProgressCallback, Upload, aside_name, part_name
from runner.deliver.remote import RemoteDestination
from runner.deliver.retry import ConnectionPool, Retrier
from runner.deliver.sftp import hostkeys
from runner.deliver.sftp.session import Connector, Session, classify
from runner.deliver.sftp.settings import SftpDestinationSettings
from runner.deliver.sftp.wire import Tuning, resume_offset, upload_file
from runner.errors import AuthenticationError, DeliveryError, HostKeyError
from runner.faults import checkpoint

log = logging.getLogger(__name__)

POSIX_RENAME = "posix-rename@openssh.com"


class SftpDestination(RemoteDestination[Session]):
    """Deliver into a directory on an SFTP server."""

    kind = "sftp"

    def __init__(
        self,
        settings: SftpDestinationSettings,
        project_dir: Path | None = None,
        *,
        tuning: Tuning | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.concurrency = settings.concurrency
        self.project_dir = Path(project_dir) if project_dir is not None else Path.cwd()
        self.tuning = tuning or Tuning()
        self._dir_ready = False
        self._connector = Connector(settings, self._resolve, self.tuning)
        self._pool: ConnectionPool[Session] = ConnectionPool(self._connector.connect)
        #: Every remote operation goes through it: transient failures retried on a new connection.
        self._retrying: Retrier[Session] = Retrier(
            self._pool, self._classify, retries=settings.retries, backoff=settings.backoff, sleep=sleep
        )

    # -- the Destination interface ---------------------------------------------------------

    def describe(self) -> str:
        s = self.settings
        return f"{s.username}@{s.host}:{s.port}:{s.remote_dir}"

    def open(self) -> None:
        directory = self._remote_dir()
        self._retrying(f"look up remote directory {directory}", lambda session, _: self._ensure_remote_dir(session))

    def check(self) -> list[str]:
        return self._retrying(f"check remote directory {self._remote_dir()}", lambda session, _: self._check(session))

    def _check(self, session: Session) -> list[str]:
        s = self.settings
        self._ensure_remote_dir(session)
        key = session.transport.get_remote_server_key()
        probe = self._remote_path(f".feeds-check-{secrets.token_hex(4)}.tmp")
        try:
            with session.sftp.open(probe, "wb") as handle:
                handle.write(b"feeds check\n")
            if session.sftp.stat(probe).st_size != 12:
                raise DeliveryError(f"{s.host}: test file {probe} has the wrong size after writing it")
            session.sftp.remove(probe)
        except Exception as exc:
            self._remove_quietly(session, probe)
            raise self._classify(exc, session, f"write a test file {probe}") from None
        extensions = ", ".join(sorted(session.extensions)) or "none"
        return [
            f"sftp: logged in to {s.host}:{s.port} as {s.username}",
            f"host key: {key.get_name()} {hostkeys.fingerprint(key)} ({session.host_key_verified})",
            f"server: {session.transport.remote_version}; cipher {session.transport.remote_cipher}",
            f"sftp extensions: {extensions}; write requests of {session.write_size} bytes",
            "rename: "
            + (
                "atomic replace (posix-rename@openssh.com)"
                if POSIX_RENAME in session.extensions
                else "fallback (existing file moved aside, then renamed; final name briefly absent)"
            ),
            f"remote directory {self._remote_dir()} is writable (test file written and removed)",
        ]

    def deliver_one(self, upload: Upload, progress: ProgressCallback | None = None) -> Delivered:
        """Upload one file under a temporary name, verify its size, rename it; return the final path
        and the SHA-256 of the bytes sent (hashed as they are read, unless the Upload knows it)."""
        local = upload.local_path
        try:
            total = local.stat().st_size
        except OSError as exc:
            raise DeliveryError(f"cannot read {local}: {exc.strerror}") from None
        final = self._remote_path(upload.remote_name)
        temporary = self._remote_path(part_name(upload.remote_name))
        aside = self._remote_path(aside_name(upload.remote_name))
        digest = Digest(upload)
        started = False  # whether this call has begun writing the temporary file (so may resume it)

        def send(session: Session, _attempt: int) -> None:
            nonlocal started
            if not self._dir_ready:
                self._ensure_remote_dir(session)
            if not started:
                # A temporary file of an earlier failed delivery of this name is not ours to resume.
                if self._remove_if_present(session, temporary):
                    log.info("removed %s left by an earlier delivery", temporary)
                started = True
                offset = 0
            else:
                offset = resume_offset(session.sftp, temporary, local, total)
                if offset:
                    log.info("resuming %s at byte %d of %d", upload.remote_name, offset, total)
            digest.restart(local, offset)
            upload_file(session.sftp, session.write_size, self.tuning, local, temporary, offset, total, progress, digest)
            size = session.sftp.stat(temporary).st_size
            if size != total:
                raise DeliveryError(
                    f"{temporary} on {self.settings.host} holds {size} bytes after upload, expected {total}; "
                    "not renamed to its final name"
                )

        try:
            self._retrying(f"upload {local.name} to {final}", send)
            self._publish(temporary, final, aside)
        except DeliveryError as error:
            if not isinstance(error, (AuthenticationError, HostKeyError)):  # connecting again would fail again
                self._cleanup_after_failure(temporary, final, aside)
            raise
        return Delivered(final, digest.hexdigest())

    def _ensure_remote_dir(self, session: Session) -> None:
        directory = self._remote_dir()
        s = self.settings
        try:
            attributes = session.sftp.stat(directory)
        except FileNotFoundError:
            if not s.create_dirs:
                raise DeliveryError(
                    f"remote directory {directory} does not exist on {s.host}; create it or set "
                    "destination.create_dirs: true"
                ) from None
            self._make_dirs(session, directory)
        except Exception as exc:
            raise self._classify(exc, session, f"look up remote directory {directory}") from None
        else:
            if not stat.S_ISDIR(attributes.st_mode or 0):
                raise DeliveryError(f"remote path {directory} on {s.host} is not a directory; fix remote_dir")
        self._dir_ready = True

    def _make_dirs(self, session: Session, directory: str) -> None:
        path = PurePosixPath(directory)
        for part in reversed([path, *path.parents]):
            text = str(part)
            if text in ("/", "."):
                continue
            try:
                session.sftp.stat(text)
                continue
            except FileNotFoundError:
                pass
            except Exception as exc:
                raise self._classify(exc, session, f"look up {text}") from None
            try:
                session.sftp.mkdir(text)
            except Exception as exc:
                raise self._classify(exc, session, f"create remote directory {text}") from None
            log.info("created remote directory %s on %s", text, self.settings.host)

    def _publish(self, temporary: str, final: str, aside: str) -> None:
        """Put the uploaded temporary file under its final name, each step retried on its own.

        ``.NAME.old`` (`aside`) is removed only while NAME holds a complete file that carries its rows:
        the file this run planned while the old one was waiting, or one an interrupted earlier swap
        put there. The delivery is confirmed (and the state committed) only after it is gone.
        """
        checkpoint("rename")

        def inspect(session: Session, _attempt: int) -> tuple[bool, bool]:
            return self._exists(session, final), POSIX_RENAME in session.extensions

        final_present, atomic = self._retrying(f"look up {final}", inspect)
        if final_present and not self.settings.replace_existing:
            raise DeliveryError(
                f"{final} already exists on {self.settings.host} and replace_existing is false; "
                "remove it there or set destination.replace_existing: true"
            )
        if atomic:
            self._retrying(
                f"rename {temporary} to {final}",
                lambda session, attempt: self._move(session, attempt, temporary, final, atomic=True),
            )
        else:
            self._swap(temporary, final, aside, final_present)
        # A `.old` left by an earlier replace that did not finish: the plan counted it as waiting, so
        # the file now under NAME carries its rows.
        if self._retrying(f"remove {aside}", lambda session, _: self._remove_if_present(session, aside)):
            log.info("removed %s now that %s is in place", aside, final)

    def _swap(self, temporary: str, final: str, aside: str, final_present: bool) -> None:
        """Replace without posix-rename: move the waiting file aside and rename the new one in (the
        caller then removes the old one). Interrupted anywhere, NAME or `.NAME.old` holds a file
        with every waiting row."""
        if final_present:
            # A `.old` already there is from a swap interrupted after its second rename: the complete
            # file under NAME carries its rows, and the rename aside needs the name free.
            if self._retrying(f"remove {aside}", lambda session, _: self._remove_if_present(session, aside)):
                log.info("removed %s, left by an earlier replace of %s that did finish", aside, final)
            checkpoint("rename-aside")
            self._retrying(
                f"move {final} aside to {aside}", lambda session, attempt: self._move(session, attempt, final, aside)
            )
        checkpoint("rename-final")
        self._retrying(
            f"rename {temporary} to {final}", lambda session, attempt: self._move(session, attempt, temporary, final)
        )
        checkpoint("remove-old")

    # -- helpers ----------------------------------------------------------------------------------

    def _exists(self, session: Session, path: str) -> bool:
        try:
            session.sftp.lstat(path)
        except FileNotFoundError:
            return False
        return True

    def _move(self, session: Session, attempt: int, source: str, target: str, *, atomic: bool = False) -> None:
        """Rename `source` to `target` (plain SFTP rename refuses to overwrite; `atomic` replaces)."""
        if attempt and not self._exists(session, source) and self._exists(session, target):
            return  # an earlier try went through; only its answer was lost
        if atomic:
            session.sftp.posix_rename(source, target)
        else:
            session.sftp.rename(source, target)

    def _delete(self, session: Session, path: str) -> None:
        session.sftp.remove(path)

    def _list(self, session: Session, directory: str) -> list[str]:
        return session.sftp.listdir(directory)

    def _rename_now(self, session: Session, source: str, target: str) -> None:
        session.sftp.rename(source, target)

    def _classify(self, exc: BaseException, session: Session | None, what: str) -> DeliveryError:
        return classify(self.settings, exc, session, what)


__all__ = ["SftpDestination", "POSIX_RENAME"]
