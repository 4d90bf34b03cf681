"""Destination `sftp`: upload feed files to an SSH server with paramiko, atomically and fast.

Each file is written to a temporary name in the target directory (``.NAME.part``: hidden, and not
ending in a feed extension, so an importer watching for known names never picks it up), its remote
size is checked against the local size, and only then is it renamed to its final name.

Rename: when the server offers ``posix-rename@openssh.com`` the temporary file atomically replaces
the final one. Without it, SFTP's plain rename refuses to overwrite, so an existing final file is
first renamed aside to ``.NAME.old``, the temporary file renamed into place, and ``.NAME.old``
removed. In that fallback the final name is briefly absent, never partial, and no interruption
loses the waiting file: ``.NAME.old`` is removed only while a complete file that carries its rows
is under NAME (see `runner.state`), `exists` counts it as a waiting file, a failed delivery puts it
back when nothing replaced it, and so does `tidy` before the next run plans its files. A delivery is
confirmed only once ``.NAME.old`` is gone. With ``replace_existing: false`` an existing final file
is an error.

Every remote operation (the remote-directory lookup, the waiting-file check, stat, rename, remove,
mkdir, listing, the upload) goes through `_retrying`: transient failures (reset, EOF, timeout) are
retried with exponential backoff and jitter on a new connection, and each step is safe to repeat
(a rename whose answer was lost is found done). The upload resumes from the remote size of the
temporary file after checking its tail against the local file. Host-key and authentication
failures are never retried. A failed delivery removes its temporary file when the server is still
reachable; otherwise the next delivery to the destination removes it (`tidy`).

Throughput: plain paramiko `put` reaches about half of OpenSSH's `sftp` on a fast link. This module
sets TCP_NODELAY, prefers AES-GCM, asks the server for its write-size limit (``limits@openssh.com``)
and keeps many large write requests in flight, sending them straight to the channel.
"""

from __future__ import annotations

import collections
import logging
import random
import secrets
import socket
import stat
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Sequence, TypeVar

import paramiko
from paramiko.message import Message
from paramiko.sftp import CMD_EXTENDED, CMD_EXTENDED_REPLY, CMD_INIT, CMD_STATUS, CMD_VERSION, CMD_WRITE, SFTPError

from runner.config import SftpDestinationSettings
from runner.deliver import (
    Delivered,
    Destination,
    DeliveryResult,
    Digest,
    ProgressCallback,
    Upload,
    aside_name,
    part_name,
    timed,
)
from runner.deliver import hostkeys
from runner.errors import AuthenticationError, DeliveryError, FeedsError, HostKeyError, TransientDeliveryError
from runner.faults import checkpoint

log = logging.getLogger(__name__)
T = TypeVar("T")

POSIX_RENAME = "posix-rename@openssh.com"
LIMITS = "limits@openssh.com"
#: Every SFTP server must accept writes of this size (draft-ietf-secsh-filexfer-02).
SAFE_WRITE_SIZE = 32768
#: Fast ciphers first: AES-GCM needs no separate MAC pass. Anything else the server insists on fails.
PREFERRED_CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
    "aes192-ctr",
)
_RESUME_CHECK_BYTES = 64 * 1024


@dataclass(frozen=True)
class Tuning:
    """Transfer knobs. The defaults are the fast settings; the benchmark turns them off one by one."""

    tcp_nodelay: bool = True
    prefer_gcm: bool = True
    direct_writes: bool = True  # our own pipelined write loop instead of paramiko's SFTPFile.write
    use_limits: bool = True  # write requests as large as limits@openssh.com allows
    max_write_size: int = 255 * 1024
    outstanding: int = 64  # write requests in flight
    read_size: int = 4 * 1024 * 1024


def server_fingerprint(host: str, port: int = 22, timeout: float = 15.0) -> str:
    """The ``SHA256:...`` fingerprint of the host key a server offers (unverified: for messages)."""
    sock = _connect_socket(host, port, timeout, nodelay=False)
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.start_client(timeout=timeout)
        return hostkeys.fingerprint(transport.get_remote_server_key())
    except paramiko.SSHException as exc:
        raise TransientDeliveryError(f"SSH handshake with {host}:{port} failed: {exc}") from None
    finally:
        transport.close()


class _SFTPClient(paramiko.SFTPClient):
    """paramiko's client, also remembering the extensions the server announced in its version packet."""

    def _send_version(self) -> int:
        message = Message()
        message.add_int(3)
        self._send_packet(CMD_INIT, message)
        kind, data = self._read_packet()
        if kind != CMD_VERSION:
            raise SFTPError("Incompatible sftp protocol")
        reply = Message(data)
        version = reply.get_int()
        self.server_extensions: dict[str, bytes] = {}
        while reply.get_remainder():
            name = reply.get_text()
            self.server_extensions[name] = reply.get_binary()
        return version


class _Session:
    """One authenticated SSH connection with an SFTP channel."""

    def __init__(self, transport: paramiko.Transport, sftp: _SFTPClient, write_size: int, verified: str) -> None:
        self.transport = transport
        self.sftp = sftp
        self.write_size = write_size
        self.host_key_verified = verified

    @property
    def extensions(self) -> dict[str, bytes]:
        return getattr(self.sftp, "server_extensions", {})

    def alive(self) -> bool:
        return self.transport.is_active() and not self.sftp.sock.closed

    def close(self) -> None:
        try:
            self.sftp.close()
        except Exception:  # noqa: BLE001  closing a broken connection may fail any way it likes
            pass
        self.transport.close()


class SftpDestination(Destination):
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
        self._sleep = sleep
        self._idle: list[_Session] = []
        self._lock = threading.Lock()
        self._pkey: paramiko.PKey | None = None
        self._dir_ready = False
        self._known_hosts: hostkeys.KnownHosts | None = None  # read once, so a bad line warns once
        self._pinned_key: paramiko.PKey | None = None  # the server's key that matched the pin, once found
        #: Connection attempts made so far (each TCP connect counts); shown in logs and tests.
        self.connection_attempts = 0

    # -- the Destination interface ---------------------------------------------------------

    def describe(self) -> str:
        s = self.settings
        return f"{s.username}@{s.host}:{s.port}:{s.remote_dir}"

    def open(self) -> None:
        directory = self._remote_dir()
        self._retrying(f"look up remote directory {directory}", lambda session, _: self._ensure_remote_dir(session))

    def close(self) -> None:
        with self._lock:
            sessions, self._idle = self._idle, []
        for session in sessions:
            session.close()

    def check(self) -> list[str]:
        return self._retrying(f"check remote directory {self._remote_dir()}", lambda session, _: self._check(session))

    def _check(self, session: _Session) -> list[str]:
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

        def send(session: _Session, _attempt: int) -> None:
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
                offset = self._resume_offset(session, temporary, local, total)
                if offset:
                    log.info("resuming %s at byte %d of %d", upload.remote_name, offset, total)
            digest.restart(local, offset)
            self._upload(session, local, temporary, offset, total, progress, digest)

        try:
            self._retrying(f"upload {local.name} to {final}", send)
            self._publish(temporary, final, aside)
        except DeliveryError as error:
            if not isinstance(error, (AuthenticationError, HostKeyError)):  # connecting again would fail again
                self._cleanup_after_failure(temporary, final, aside)
            raise
        return Delivered(final, digest.hexdigest())

    def exists(self, remote_name: str) -> bool:
        """Whether a file of this final name is waiting in the remote directory now (e.g. not yet
        picked up), or moved aside by a replace that did not finish (``.NAME.old``)."""
        final = self._remote_path(remote_name)
        aside = self._remote_path(aside_name(remote_name))

        def look(session: _Session, _attempt: int) -> bool:
            return self._exists(session, final) or self._exists(session, aside)

        return self._retrying(f"look up {final}", look)

    def names(self) -> list[str]:
        directory = self._remote_dir()
        return self._retrying(f"list remote directory {directory}", lambda session, _: session.sftp.listdir(directory))

    def remove(self, name: str) -> None:
        path = self._remote_path(name)
        self._retrying(f"remove {path}", lambda session, _: self._remove_if_present(session, path))

    def rename(self, source: str, target: str) -> None:
        old, new = self._remote_path(source), self._remote_path(target)
        self._retrying(f"rename {old} to {new}", lambda session, attempt: self._move(session, attempt, old, new))

    def deliver_all(self, uploads: Sequence[Upload], progress: ProgressCallback | None = None) -> list[DeliveryResult]:
        """Deliver several files at once, each over its own connection (up to `concurrency`).

        `progress` may be called from several threads at once.
        """
        workers = min(self.settings.concurrency, len(uploads))
        if workers <= 1:
            return super().deliver_all(uploads, progress)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sftp-upload") as pool:
            return list(pool.map(lambda upload: timed(self.deliver_one, upload, progress), uploads))

    # -- connections -------------------------------------------------------------------------

    def _acquire(self) -> _Session:
        with self._lock:
            while self._idle:
                session = self._idle.pop()
                if session.alive():
                    return session
                session.close()
        return self._connect()

    def _release(self, session: _Session) -> None:
        if session.alive():
            with self._lock:
                self._idle.append(session)
        else:
            session.close()

    def _retrying(self, what: str, action: Callable[[_Session, int], T]) -> T:
        """Run one remote operation, `action(session, attempt)`, on a pooled connection: the one retry
        loop of this module. A transient failure (reset, EOF, timeout, refused connection) closes the
        connection and runs the action again on a new one after a backoff; anything else is raised at
        once. Actions must be safe to repeat: `attempt` > 0 tells them an earlier try may have
        half-happened."""
        attempts = self.settings.retries + 1
        for attempt in range(attempts):
            session: _Session | None = None
            try:
                session = self._acquire()
                result = action(session, attempt)
            except Exception as exc:
                error = self._classify(exc, session, what)
                if session is not None:
                    if error.transient:
                        session.close()
                    else:
                        self._release(session)
                if not error.transient:
                    raise error from None
                if attempt == attempts - 1:
                    raise TransientDeliveryError(f"{error} (gave up after {attempts} attempts)") from None
                delay = self._backoff(attempt)
                log.warning("%s; retrying in %.1fs (attempt %d of %d)", error, delay, attempt + 2, attempts)
                self._sleep(delay)
                continue
            self._release(session)
            return result
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> float:
        base = self.settings.backoff * (2**attempt)
        return base + random.uniform(0, base / 2) if base else 0.0

    def _connect(self, offered: tuple[paramiko.PKey, ...] = ()) -> _Session:
        """Connect, verify the host key and log in. ``offered``: host keys this server showed in earlier
        handshakes of this attempt that are not the pinned one (each handshake shows only one)."""
        s = self.settings
        where = f"{s.host}:{s.port}"
        with self._lock:
            self.connection_attempts += 1
        sock = _connect_socket(s.host, s.port, s.connect_timeout, nodelay=self.tuning.tcp_nodelay)
        transport = hostkeys.Transport(sock)
        try:
            transport.banner_timeout = s.connect_timeout
            transport.auth_timeout = s.connect_timeout
            transport.handshake_timeout = s.connect_timeout
            options = transport.get_security_options()
            if self.tuning.prefer_gcm:
                options.ciphers = tuple(c for c in PREFERRED_CIPHERS if c in options.ciphers)
            known_hosts_path = self._known_hosts_path()
            known = None
            if s.host_key is None:
                with self._lock:
                    if self._known_hosts is None:
                        self._known_hosts = hostkeys.load_known_hosts(known_hosts_path)
                    known = self._known_hosts
                options.key_types = hostkeys.preferred_algorithms(
                    hostkeys.recorded_keys(known, s.host, s.port), tuple(options.key_types)
                )
            else:
                # A pin is a fingerprint, not a key type: ask first for the type that matched it before,
                # and not again for a type this server has already shown us.
                pinned = [self._pinned_key] if self._pinned_key is not None else []
                options.key_types = hostkeys.preferred_algorithms(pinned, tuple(options.key_types), exclude=offered)
            try:
                transport.start_client(timeout=s.connect_timeout)
            except paramiko.ssh_exception.IncompatiblePeer as exc:
                if offered:  # no host key of another type left: none of the server's keys is the pinned one
                    raise hostkeys.pin_mismatch(offered, s.host, s.port, s.host_key) from None
                raise DeliveryError(f"cannot agree on SSH algorithms with {where}: {exc}") from None
            key = transport.get_remote_server_key()
            if s.host_key is not None and hostkeys.fingerprint(key) != s.host_key:
                # Servers hold several host keys and show one per handshake: ask for each other type
                # before calling the server an impostor, and accept only an exact fingerprint match.
                tried = (*offered, key)
                if not hostkeys.untried_algorithms(transport, tried):
                    raise hostkeys.pin_mismatch(tried, s.host, s.port, s.host_key)
                transport.close()
                return self._connect(tried)
            verified = hostkeys.verify(
                key,
                s.host,
                s.port,
                pinned=s.host_key,
                known_hosts_path=known_hosts_path,
                known_hosts=known,
            )
            if s.host_key is not None:
                self._pinned_key = key
            self._authenticate(transport)
            if s.keepalive:
                transport.set_keepalive(s.keepalive)
            channel = transport.open_session(timeout=s.operation_timeout)
            channel.settimeout(s.operation_timeout)
            channel.invoke_subsystem("sftp")
            sftp = _SFTPClient(channel)
            write_size = self._write_size(sftp)
            return _Session(transport, sftp, write_size, verified)
        except FeedsError:
            transport.close()
            raise
        except Exception as exc:
            transport.close()
            raise _connection_error(exc, where, s.connect_timeout) from None

    def _authenticate(self, transport: paramiko.Transport) -> None:
        s = self.settings
        where = f"{s.host}:{s.port}"
        tried: list[str] = []
        allowed: list[str] | None = None

        def attempt(method: str, call: Callable[[], object]) -> bool:
            nonlocal allowed
            if allowed is not None and method.split(" ")[0] not in allowed:
                return False
            tried.append(method)
            try:
                call()
            except paramiko.BadAuthenticationType as exc:
                allowed = list(exc.allowed_types)
            except paramiko.AuthenticationException:
                pass
            return transport.is_authenticated()

        if s.key_file is not None:
            key = self._private_key()
            if attempt(f"publickey ({self._resolve(s.key_file)})", lambda: transport.auth_publickey(s.username, key)):
                return
        if s.use_agent:
            try:
                agent_keys = paramiko.Agent().get_keys()
            except paramiko.SSHException:
                agent_keys = ()
            for agent_key in agent_keys:
                if attempt("publickey (ssh-agent)", lambda k=agent_key: transport.auth_publickey(s.username, k)):
                    return
        if s.password is not None:
            if attempt("password", lambda: transport.auth_password(s.username, s.password)):
                return
        if not tried:
            raise AuthenticationError(
                f"no credentials to log in to {where} as {s.username}: set FEEDS_SFTP_KEY_FILE (or "
                "destination.key_file), FEEDS_SFTP_PASSWORD, or load a key into ssh-agent"
            )
        hint = f"; the server accepts: {', '.join(allowed)}" if allowed else ""
        raise AuthenticationError(
            f"authentication failed for {s.username}@{where} (tried {', '.join(tried)}){hint}. Check the "
            "user name and that the server has this key (or password) for it; not retried"
        )

    def _private_key(self) -> paramiko.PKey:
        if self._pkey is not None:
            return self._pkey
        s = self.settings
        path = self._resolve(s.key_file)
        try:
            self._pkey = paramiko.PKey.from_path(path, _passphrase(s.key_passphrase))
        except (paramiko.PasswordRequiredException, TypeError) as exc:
            # cryptography reports a missing passphrase as TypeError, paramiko as PasswordRequired.
            if s.key_passphrase and isinstance(exc, TypeError):
                raise AuthenticationError(f"cannot load private key {path}: {type(exc).__name__}") from None
            raise AuthenticationError(
                f"private key {path} is protected by a passphrase; set FEEDS_SFTP_KEY_PASSPHRASE"
            ) from None
        except FileNotFoundError:
            raise AuthenticationError(f"private key file {path} not found; fix FEEDS_SFTP_KEY_FILE / key_file") from None
        except (paramiko.SSHException, ValueError, OSError) as exc:
            wrong = " or the passphrase is wrong" if s.key_passphrase else ""
            raise AuthenticationError(
                f"cannot load private key {path}: not a readable private key{wrong} ({type(exc).__name__})"
            ) from None
        return self._pkey

    def _write_size(self, sftp: _SFTPClient) -> int:
        if not (self.tuning.use_limits and LIMITS in getattr(sftp, "server_extensions", {})):
            return SAFE_WRITE_SIZE
        try:
            kind, reply = sftp._request(CMD_EXTENDED, LIMITS)
        except (OSError, EOFError, paramiko.SSHException):
            return SAFE_WRITE_SIZE
        if kind != CMD_EXTENDED_REPLY:
            return SAFE_WRITE_SIZE
        _max_packet, _max_read, max_write = (reply.get_int64() for _ in range(3))
        if not max_write:
            return SAFE_WRITE_SIZE
        return max(SAFE_WRITE_SIZE, min(max_write, self.tuning.max_write_size))

    # -- paths and directories ---------------------------------------------------------------

    def _resolve(self, path: Path) -> Path:
        path = Path(path).expanduser()
        return path if path.is_absolute() else self.project_dir / path

    def _known_hosts_path(self) -> Path:
        if self.settings.known_hosts is not None:
            return self._resolve(self.settings.known_hosts)
        return Path("~/.ssh/known_hosts").expanduser()

    def _remote_dir(self) -> str:
        return self.settings.remote_dir.rstrip("/") or "/"

    def _remote_path(self, name: str) -> str:
        if "/" in name or name in ("", ".", ".."):
            raise DeliveryError(f"remote file name {name!r} must be a plain file name without '/'")
        return str(PurePosixPath(self._remote_dir()) / name)

    def _ensure_remote_dir(self, session: _Session) -> None:
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

    def _make_dirs(self, session: _Session, directory: str) -> None:
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

    # -- moving bytes ----------------------------------------------------------------------------

    def _resume_offset(self, session: _Session, temporary: str, local: Path, total: int) -> int:
        """How much of the temporary file is already there and matches the local file (0: start over)."""
        try:
            size = session.sftp.stat(temporary).st_size or 0
        except FileNotFoundError:
            return 0
        if size > total:
            return 0
        check = min(size, _RESUME_CHECK_BYTES)
        if check:
            with session.sftp.open(temporary, "rb") as remote, open(local, "rb") as source:
                remote.seek(size - check)
                source.seek(size - check)
                if remote.read(check) != source.read(check):
                    log.warning("%s does not match the local file; starting over", temporary)
                    return 0
        return size

    def _upload(
        self,
        session: _Session,
        local: Path,
        temporary: str,
        offset: int,
        total: int,
        progress: ProgressCallback | None,
        digest: Digest,
    ) -> None:
        sftp = session.sftp
        with open(local, "rb") as source:
            remote = sftp.open(temporary, "r+b" if offset else "wb")
            try:
                source.seek(offset)
                if self.tuning.direct_writes:
                    _write_pipelined(session, remote.handle, source, offset, total, local, progress, self.tuning, digest)
                else:
                    remote.set_pipelined(True)
                    remote.seek(offset)
                    sent = offset
                    while chunk := source.read(self.tuning.read_size):
                        remote.write(chunk)
                        digest.update(chunk)
                        sent += len(chunk)
                        if progress:
                            progress(local, sent, total)
            finally:
                remote.close()
        size = sftp.stat(temporary).st_size
        if size != total:
            raise DeliveryError(
                f"{temporary} on {self.settings.host} holds {size} bytes after upload, expected {total}; "
                "not renamed to its final name"
            )

    def _publish(self, temporary: str, final: str, aside: str) -> None:
        """Put the uploaded temporary file under its final name, each step retried on its own.

        ``.NAME.old`` (`aside`) is removed only while NAME holds a complete file that carries its rows:
        the file this run planned while the old one was waiting, or one an interrupted earlier swap
        put there. The delivery is confirmed (and the state committed) only after it is gone.
        """
        checkpoint("rename")

        def inspect(session: _Session, _attempt: int) -> tuple[bool, bool]:
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

    def _exists(self, session: _Session, path: str) -> bool:
        try:
            session.sftp.lstat(path)
        except FileNotFoundError:
            return False
        return True

    def _remove_if_present(self, session: _Session, path: str) -> bool:
        """Remove `path` if it is there (so repeating it after a lost answer is harmless)."""
        if not self._exists(session, path):
            return False
        session.sftp.remove(path)
        return True

    def _move(self, session: _Session, attempt: int, source: str, target: str, *, atomic: bool = False) -> None:
        """Rename `source` to `target` (plain SFTP rename refuses to overwrite; `atomic` replaces)."""
        if attempt and not self._exists(session, source) and self._exists(session, target):
            return  # an earlier try went through; only its answer was lost
        if atomic:
            session.sftp.posix_rename(source, target)
        else:
            session.sftp.rename(source, target)

    def _remove_quietly(self, session: _Session, path: str) -> None:
        try:
            if session.alive():
                self._remove_if_present(session, path)
        except Exception as exc:  # noqa: BLE001  the next delivery removes it
            log.warning("could not remove %s on %s (%s); the next delivery will", path, self.settings.host, exc)

    def _cleanup_after_failure(self, temporary: str, final: str, aside: str) -> None:
        """After a failed delivery, once: put a file moved aside back if nothing replaced it, and
        remove the temporary file. What this cannot do, the next delivery's `tidy` does."""
        host = self.settings.host
        try:
            session = self._acquire()
        except FeedsError as exc:
            log.warning("could not clean up %s on %s after the failed delivery (%s); the next delivery will",
                        final, host, exc)
            return
        try:
            if not self._exists(session, final) and self._exists(session, aside):
                session.sftp.rename(aside, final)
                log.warning("put the waiting file %s back from %s on %s after the failed delivery", final, aside, host)
            if self._remove_if_present(session, temporary):
                log.info("removed %s after the failed delivery", temporary)
        except Exception as exc:  # noqa: BLE001  the delivery's own error is the one to report
            log.warning("could not clean up %s on %s after the failed delivery (%s); the next delivery will",
                        final, host, self._classify(exc, session, "clean up"))
            session.close()
            return
        self._release(session)

    def _classify(self, exc: BaseException, session: _Session | None, what: str) -> DeliveryError:
        """Turn any failure into the matching runner.errors class, with a message naming the host."""
        s = self.settings
        where = f"{s.host}:{s.port}"
        if isinstance(exc, DeliveryError):
            return exc
        if isinstance(exc, FeedsError):
            return DeliveryError(str(exc))
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return TransientDeliveryError(f"{where} did not answer within {s.operation_timeout:g}s while trying to {what}")
        if isinstance(exc, (EOFError, ConnectionError)) or (session is not None and not session.alive()):
            return TransientDeliveryError(f"connection to {where} was lost while trying to {what}")
        if isinstance(exc, PermissionError):
            return DeliveryError(
                f"permission denied on {where}: could not {what}; check that {s.username} may write to "
                f"{self._remote_dir()} there"
            )
        if isinstance(exc, FileNotFoundError):
            return DeliveryError(f"not found on {where}: could not {what} ({exc.strerror or exc})")
        if isinstance(exc, OSError):
            detail = exc.strerror or (exc.args[0] if exc.args else "failure")
            return DeliveryError(
                f"the server {where} failed to {what} ({detail}); a full disk or quota on the server is a "
                "common cause"
            )
        if isinstance(exc, paramiko.SSHException):
            return DeliveryError(f"SSH error with {where} while trying to {what}: {exc}")
        return DeliveryError(f"unexpected {type(exc).__name__} while trying to {what} on {where}: {exc}")


def _passphrase(value: str | None) -> bytes | None:
    return value.encode("utf-8") if value else None


def _connect_socket(host: str, port: int, timeout: float, *, nodelay: bool) -> socket.socket:
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise DeliveryError(f"cannot resolve SFTP host {host!r} ({exc.strerror}); check FEEDS_SFTP_HOST") from None
    except ConnectionRefusedError:
        raise TransientDeliveryError(f"{where} refused the connection (is the SFTP server running on port {port}?)") from None
    except (socket.timeout, TimeoutError):
        raise TransientDeliveryError(f"{where} did not accept a connection within {timeout:g}s") from None
    except OSError as exc:
        raise TransientDeliveryError(f"cannot reach {where}: {exc.strerror or exc}") from None
    if nodelay:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _connection_error(exc: BaseException, where: str, timeout: float) -> DeliveryError:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return TransientDeliveryError(f"{where} did not complete the SSH handshake within {timeout:g}s")
    if isinstance(exc, (EOFError, ConnectionError, OSError)):
        return TransientDeliveryError(f"connection to {where} was closed during the SSH handshake ({type(exc).__name__})")
    if isinstance(exc, paramiko.SSHException):
        # paramiko reports banner timeouts and dropped handshakes as SSHException.
        return TransientDeliveryError(f"SSH handshake with {where} failed: {exc}")
    return DeliveryError(f"cannot connect to {where}: {type(exc).__name__}: {exc}")


_STATUS = struct.Struct(">II")  # request id, status code
_WRITE_HEAD = struct.Struct(">IBI")  # length, CMD_WRITE, request id
_WRITE_TAIL = struct.Struct(">QI")  # offset, data length


def _write_pipelined(
    session: _Session,
    handle: bytes,
    source: BinaryIO,
    offset: int,
    total: int,
    local: Path,
    progress: ProgressCallback | None,
    tuning: Tuning,
    digest: Digest,
) -> None:
    """Send SSH_FXP_WRITE requests straight to the channel, keeping up to `outstanding` in flight.

    paramiko's SFTPFile.write costs several Python calls, a lock and a copy per 32 KiB; here one
    request carries up to the server's write limit and its bytes go to the channel as one buffer.
    """
    sftp = session.sftp
    channel = sftp.sock
    size = session.write_size
    handle_field = struct.pack(">I", len(handle)) + handle
    fixed = 1 + 4 + len(handle_field) + 12  # body length minus the data
    pending: collections.OrderedDict[int, int] = collections.OrderedDict()
    buffer = bytearray(max(tuning.read_size, size))
    view = memoryview(buffer)
    position = offset
    acknowledged = offset
    with sftp._lock:
        request_id = sftp.request_number
        sftp.request_number += 1 << 20  # reserve a block of ids nobody else will use

    def read_status() -> None:
        nonlocal acknowledged
        kind, data = sftp._read_packet()
        if kind != CMD_STATUS:
            raise SFTPError(f"expected a status reply to a write, got packet type {kind}")
        reply_id, code = _STATUS.unpack_from(data)
        length = pending.pop(reply_id, None)
        if length is None:
            raise SFTPError(f"reply to unknown request {reply_id}")
        if code != paramiko.sftp.SFTP_OK:
            sftp._convert_status(_status_message(data))
        acknowledged += length

    while position < total:
        filled = source.readinto(buffer)
        if not filled:
            raise DeliveryError(f"{local} shrank while it was being uploaded")
        digest.update(view[:filled])
        start = 0
        while start < filled:
            length = min(size, filled - start)
            payload = b"".join(
                (
                    _WRITE_HEAD.pack(fixed + length, CMD_WRITE, request_id),
                    handle_field,
                    _WRITE_TAIL.pack(position, length),
                    view[start : start + length],
                )
            )
            _send_all(channel, payload)
            pending[request_id] = length
            request_id = (request_id + 1) & 0xFFFFFFFF
            start += length
            position += length
            while pending and (len(pending) >= tuning.outstanding or channel.recv_ready()):
                read_status()
        if progress:
            progress(local, position, total)
        checkpoint("upload")
    while pending:
        read_status()
    if acknowledged != total:
        raise DeliveryError(f"{local}: server acknowledged {acknowledged} of {total} bytes")


def _status_message(data: bytes) -> Message:
    message = Message(data)
    message.get_int()  # request id
    return message


def _send_all(channel: paramiko.Channel, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        sent = channel.send(view)
        if not sent:
            raise EOFError("SFTP channel closed while sending")
        view = view[sent:]


__all__ = ["SftpDestination", "Tuning", "server_fingerprint", "POSIX_RENAME"]
