"""Destination `ftp`: upload feed files to an FTP or FTPS server with ftplib, atomically.

Each file is stored under a temporary name in the target directory (``.NAME.part``: hidden, and not
ending in a feed extension), its remote size is checked (``SIZE``, else ``MLST``, else ``LIST``)
against the local size, and only then is it renamed to its final name (``RNFR``/``RNTO``).

Rename onto a waiting file: most servers replace it (the rename is atomic on the server's file
system). Some refuse a rename onto an existing file; there, as in the SFTP fallback, the waiting
file is renamed aside to ``.NAME.old``, the new file renamed into place, and ``.NAME.old`` removed
only once the file under NAME carries its rows. Interrupted at any step, NAME or ``.NAME.old``
holds a file with every waiting row; `exists` counts ``.NAME.old`` as waiting, a failed delivery
puts it back when nothing replaced it, and so does `tidy` before the next run plans its files.

Every remote operation goes through the shared `Retrier` (runner.deliver.retry): transient failures
(reset, EOF, timeout, 4xx replies) are retried with backoff on a new connection, and each step is
safe to repeat (a rename whose answer was lost is found done). An upload cut off resumes with
``REST`` from the size of the temporary file when the server offers REST STREAM. Certificate and
log-in failures are never retried.
"""

from __future__ import annotations

import collections
import ftplib
import logging
import ssl
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Callable

from runner.deliver import Delivered, Digest, ProgressCallback, Upload, aside_name, part_name
from runner.deliver.ftp.session import Connector, Session, classify
from runner.deliver.ftp.settings import FtpDestinationSettings
from runner.deliver.remote import RemoteDestination
from runner.deliver.retry import ConnectionPool, Retrier
from runner.errors import AuthenticationError, CertificateError, DeliveryError
from runner.faults import checkpoint

log = logging.getLogger(__name__)

#: Bytes read from the local file and handed to the data connection at once.
BLOCK = 1024 * 1024
#: Blocks the SHA-256 thread may fall behind the send before the send waits for it.
HASH_LAG = 4


class FtpDestination(RemoteDestination[Session]):
    """Deliver into a directory on an FTP or FTPS server."""

    kind = "ftp"

    def __init__(
        self,
        settings: FtpDestinationSettings,
        project_dir: Path | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.concurrency = settings.concurrency
        self.project_dir = Path(project_dir) if project_dir is not None else Path.cwd()
        self._dir_ready = False
        #: Whether the server renames onto an existing file (None: not seen yet).
        self._replaces: bool | None = None
        self._connector = Connector(settings, self._resolve)
        self._pool: ConnectionPool[Session] = ConnectionPool(self._connector.connect)
        self._retrying: Retrier[Session] = Retrier(
            self._pool, self._classify, retries=settings.retries, backoff=settings.backoff, sleep=sleep
        )

    # -- the Destination interface ---------------------------------------------------------

    def describe(self) -> str:
        s = self.settings
        scheme = "ftp" if s.tls == "none" else "ftps"
        return f"{scheme}://{s.username}@{s.host}:{s.effective_port}/{s.remote_dir.lstrip('/') if s.remote_dir != '.' else ''}"

    def open(self) -> None:
        if self.settings.tls == "none":
            log.warning(
                "%s: tls is none: the password and the feed files (customer e-mails) travel in clear; use "
                "FEEDS_FTP_TLS=explicit or implicit if the server offers TLS", self.describe()
            )
        directory = self._remote_dir()
        self._retrying(f"look up remote directory {directory}", lambda session, _: self._ensure_remote_dir(session))

    def deliver_one(self, upload: Upload, progress: ProgressCallback | None = None) -> Delivered:
        """Store one file under a temporary name, verify its size, rename it; return the final path and
        the SHA-256 of the bytes sent."""
        local = upload.local_path
        try:
            total = local.stat().st_size
        except OSError as exc:
            raise DeliveryError(f"cannot read {local}: {exc.strerror}") from None
        final = self._remote_path(upload.remote_name)
        temporary = self._remote_path(part_name(upload.remote_name))
        aside = self._remote_path(aside_name(upload.remote_name))
        digest = Digest(upload)
        started = False

        def send(session: Session, _attempt: int) -> None:
            nonlocal started
            if not self._dir_ready:
                self._ensure_remote_dir(session)
            offset = 0
            if not started:
                # A temporary file of an earlier failed delivery of this name is not ours to resume.
                if self._remove_if_present(session, temporary):
                    log.info("removed %s left by an earlier delivery", temporary)
                started = True
            elif "REST" in session.features:
                offset = self._size(session, temporary) or 0
                if offset > total:
                    offset = 0
                if offset:
                    log.info("resuming %s at byte %d of %d", upload.remote_name, offset, total)
            digest.restart(local, offset)
            self._store(session, local, temporary, offset, total, progress, digest)
            size = self._size(session, temporary)
            if size != total:
                raise DeliveryError(
                    f"{temporary} on {self.settings.host} holds {size} bytes after upload, expected {total}; "
                    "not renamed to its final name"
                )

        try:
            self._retrying(f"upload {local.name} to {final}", send)
            self._publish(temporary, final, aside)
        except DeliveryError as error:
            if not isinstance(error, (AuthenticationError, CertificateError)):
                self._cleanup_after_failure(temporary, final, aside)
            raise
        return Delivered(final, digest.hexdigest())

    def check(self) -> list[str]:
        from runner.deliver.ftp.check import report

        return self._retrying(f"check remote directory {self._remote_dir()}", lambda session, _: report(self, session))

    # -- paths and directories ---------------------------------------------------------------

    def _is_dir(self, session: Session, path: str) -> bool:
        client = session.client
        home = client.pwd()
        try:
            client.cwd(path)
        except ftplib.error_perm:
            return False
        client.cwd(home)
        return True

    def _ensure_remote_dir(self, session: Session) -> None:
        directory = self._remote_dir()
        if not self._is_dir(session, directory):
            if not self.settings.create_dirs:
                raise DeliveryError(
                    f"remote directory {directory} does not exist on {self.settings.host} (or is not a directory); "
                    "create it or set destination.create_dirs: true"
                )
            path = PurePosixPath(directory)
            for part in reversed([path, *path.parents]):
                text = str(part)
                if text in ("/", ".") or self._is_dir(session, text):
                    continue
                session.client.mkd(text)
                log.info("created remote directory %s on %s", text, self.settings.host)
        self._dir_ready = True

    # -- remote operations (on one session) ------------------------------------------------------

    def _store(
        self, session: Session, local: Path, remote: str, offset: int, total: int,
        progress: ProgressCallback | None, digest: Digest,
    ) -> None:
        """STOR (after REST `offset`) the local file's bytes from `offset` on; `digest` sees each one.

        The SHA-256 of a block is computed on a second thread while blocks are encrypted and sent
        (both release the GIL), so hashing what is sent does not slow the upload. A ring of buffers
        lets the hash fall a few blocks behind without stalling the send; a buffer is refilled only
        once its hash is done."""
        client = session.client
        ring = [memoryview(bytearray(BLOCK)) for _ in range(HASH_LAG)]
        hashing: collections.deque[Future[None]] = collections.deque()
        sent = offset
        with open(local, "rb") as source, ThreadPoolExecutor(1, thread_name_prefix="ftp-hash") as hasher:
            source.seek(offset)
            conn = client.transfercmd(f"STOR {remote}", rest=offset or None)
            try:
                while sent < total:
                    if len(hashing) == HASH_LAG:
                        hashing.popleft().result()  # the oldest buffer is free again
                    buffer = ring[0]
                    ring.append(ring.pop(0))  # used again HASH_LAG blocks from now
                    filled = source.readinto(buffer)
                    if not filled:
                        raise DeliveryError(f"{local} shrank while it was being uploaded")
                    block = buffer[:filled]
                    hashing.append(hasher.submit(digest.update, block))
                    conn.sendall(block)
                    sent += filled
                    if progress:
                        progress(local, sent, total)
                    checkpoint("upload")
                if isinstance(conn, ssl.SSLSocket):
                    conn.unwrap()  # TLS close_notify: the server knows the file is complete, not cut
            finally:
                conn.close()
                for future in hashing:
                    future.result()
        client.voidresp()
        session.last_used = time.monotonic()

    def _size(self, session: Session, path: str) -> int | None:
        """The remote file's size, or None if there is no such file."""
        client = session.client
        try:
            if "SIZE" in session.features:
                try:
                    return client.size(path)
                except ftplib.error_perm:
                    # 550 also answers SIZE in ASCII mode or on a directory: "absent" decides whether a
                    # waiting file is carried or replaced, so MLST confirms it where the server has it.
                    if "MLST" not in session.features:
                        raise
            if "MLST" in session.features:
                facts = client.sendcmd(f"MLST {path}").splitlines()[1].strip().split(";")
                for fact in facts:
                    key, _, value = fact.partition("=")
                    if key.lower() == "size":
                        return int(value)
                return None
            lines: list[str] = []
            try:
                client.retrlines(f"LIST {path}", lines.append)
            finally:
                client.voidcmd("TYPE I")  # retrlines switched to ASCII; SIZE and STOR need binary
            if not lines:
                return None
            return int(lines[0].split()[4])  # Unix `ls -l` style, the one format every server offers
        except ftplib.error_perm as exc:
            if str(exc).startswith("550"):
                return None
            raise

    def _exists(self, session: Session, path: str) -> bool:
        return self._size(session, path) is not None

    def _list(self, session: Session, directory: str) -> list[str]:
        client = session.client
        try:
            if "MLST" in session.features:
                return [name for name, facts in client.mlsd(directory, ["type"]) if facts.get("type") == "file"]
            return [PurePosixPath(name).name for name in client.nlst(directory)]
        finally:
            client.voidcmd("TYPE I")  # the listing switched to ASCII; SIZE and STOR need binary

    def _move(self, session: Session, attempt: int, source: str, target: str) -> None:
        if attempt and not self._exists(session, source) and self._exists(session, target):
            return  # an earlier try went through; only its answer was lost
        session.client.rename(source, target)

    def _replace(self, session: Session, attempt: int, source: str, target: str) -> bool:
        """Rename `source` onto the existing `target`; False if the server refuses (both left as they were)."""
        try:
            self._move(session, attempt, source, target)
        except ftplib.error_perm:
            if self._exists(session, source) and self._exists(session, target):
                return False
            raise
        return True

    def _publish(self, temporary: str, final: str, aside: str) -> None:
        """Put the uploaded temporary file under its final name, each step retried on its own; `aside`
        is removed only while NAME holds a complete file that carries its rows."""
        checkpoint("rename")
        final_present = self._retrying(f"look up {final}", lambda session, _: self._exists(session, final))
        if final_present and not self.settings.replace_existing:
            raise DeliveryError(
                f"{final} already exists on {self.settings.host} and replace_existing is false; "
                "remove it there or set destination.replace_existing: true"
            )
        if not final_present:
            self._retrying(
                f"rename {temporary} to {final}", lambda session, attempt: self._move(session, attempt, temporary, final)
            )
        else:
            replaced = False
            if self._replaces is not False:
                replaced = self._retrying(
                    f"rename {temporary} onto {final}",
                    lambda session, attempt: self._replace(session, attempt, temporary, final),
                )
                if not replaced:
                    log.info("%s refuses a rename onto an existing file; moving the waiting file aside", self.settings.host)
                self._replaces = replaced
            if not replaced:
                self._swap(temporary, final, aside)
        if self._retrying(f"remove {aside}", lambda session, _: self._remove_if_present(session, aside)):
            log.info("removed %s now that %s is in place", aside, final)

    def _swap(self, temporary: str, final: str, aside: str) -> None:
        """Replace on a server that refuses a rename onto an existing file: move the waiting file aside
        and rename the new one in (the caller then removes the old one)."""
        # A `.old` already there is from a swap interrupted after its second rename: the complete file
        # under NAME carries its rows, and the rename aside needs the name free.
        if self._retrying(f"remove {aside}", lambda session, _: self._remove_if_present(session, aside)):
            log.info("removed %s, left by an earlier replace of %s that did finish", aside, final)
        checkpoint("rename-aside")
        self._retrying(f"move {final} aside to {aside}", lambda session, attempt: self._move(session, attempt, final, aside))
        checkpoint("rename-final")
        self._retrying(
            f"rename {temporary} to {final}", lambda session, attempt: self._move(session, attempt, temporary, final)
        )
        checkpoint("remove-old")

    def _delete(self, session: Session, path: str) -> None:
        session.client.delete(path)

    def _rename_now(self, session: Session, source: str, target: str) -> None:
        session.client.rename(source, target)

    def _classify(self, exc: BaseException, session: Session | None, what: str) -> DeliveryError:
        return classify(self.settings, exc, session, what)


__all__ = ["FtpDestination"]
