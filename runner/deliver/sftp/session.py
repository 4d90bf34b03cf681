"""One SFTP connection: TCP (TCP_NODELAY), SSH handshake preferring AES-GCM, host-key check, log-in,
and the SFTP channel with the server's extensions and write-size limit."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Callable

import paramiko

from runner.deliver.sftp import hostkeys
from runner.deliver.sftp.settings import SftpDestinationSettings
from runner.deliver.sftp.wire import ExtensionsClient, Tuning, write_size
from runner.errors import AuthenticationError, DeliveryError, FeedsError, TransientDeliveryError

#: Fast ciphers first: AES-GCM needs no separate MAC pass. Anything else the server insists on fails.
PREFERRED_CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
    "aes192-ctr",
)


class Session:
    """One authenticated SSH connection with an SFTP channel."""

    def __init__(self, transport: paramiko.Transport, sftp: ExtensionsClient, write_size: int, verified: str) -> None:
        self.transport = transport
        self.sftp = sftp
        self.write_size = write_size
        self.host_key_verified = verified

    @property
    def extensions(self) -> dict[str, bytes]:
        return getattr(self.sftp, "server_extensions", {})

    def alive(self) -> bool:
        return self.transport.is_active() and not self.sftp.get_channel().closed

    def close(self) -> None:
        try:
            self.sftp.close()
        except Exception:  # noqa: BLE001  closing a broken connection may fail any way it likes
            pass
        self.transport.close()


class Connector:
    """Opens sessions to one server with one set of settings; remembers the key, known_hosts and the
    pinned key's type between connections."""

    def __init__(self, settings: SftpDestinationSettings, resolve: Callable[[Path], Path], tuning: Tuning) -> None:
        self.settings = settings
        self.resolve = resolve
        self.tuning = tuning
        self._lock = threading.Lock()
        self._pkey: paramiko.PKey | None = None
        self._known_hosts: hostkeys.KnownHosts | None = None  # read once, so a bad line warns once
        self._pinned_key: paramiko.PKey | None = None  # the server's key that matched the pin, once found
        #: Connection attempts made so far (each TCP connect counts); shown in logs and tests.
        self.attempts = 0

    def known_hosts_path(self) -> Path:
        if self.settings.known_hosts is not None:
            return self.resolve(self.settings.known_hosts)
        return Path("~/.ssh/known_hosts").expanduser()

    def connect(self, offered: tuple[paramiko.PKey, ...] = ()) -> Session:
        """Connect, verify the host key and log in. ``offered``: host keys this server showed in earlier
        handshakes of this attempt that are not the pinned one (each handshake shows only one)."""
        s = self.settings
        where = f"{s.host}:{s.port}"
        with self._lock:
            self.attempts += 1
        sock = connect_socket(s.host, s.port, s.connect_timeout, nodelay=self.tuning.tcp_nodelay)
        transport = hostkeys.Transport(sock)
        try:
            transport.banner_timeout = s.connect_timeout
            transport.auth_timeout = s.connect_timeout
            transport.handshake_timeout = s.connect_timeout
            options = transport.get_security_options()
            if self.tuning.prefer_gcm:
                options.ciphers = tuple(c for c in PREFERRED_CIPHERS if c in options.ciphers)
            known_hosts_path = self.known_hosts_path()
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
                return self.connect(tried)
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
            sftp = ExtensionsClient(channel)
            return Session(transport, sftp, write_size(sftp, self.tuning), verified)
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
            if attempt(f"publickey ({self.resolve(s.key_file)})", lambda: transport.auth_publickey(s.username, key)):
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
        path = self.resolve(s.key_file)  # type: ignore[arg-type]
        passphrase = s.key_passphrase.encode("utf-8") if s.key_passphrase else None
        try:
            self._pkey = paramiko.PKey.from_path(path, passphrase)
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


def server_fingerprint(host: str, port: int = 22, timeout: float = 15.0) -> str:
    """The ``SHA256:...`` fingerprint of the host key a server offers (unverified: for messages)."""
    sock = connect_socket(host, port, timeout, nodelay=False)
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.start_client(timeout=timeout)
        return hostkeys.fingerprint(transport.get_remote_server_key())
    except paramiko.SSHException as exc:
        raise TransientDeliveryError(f"SSH handshake with {host}:{port} failed: {exc}") from None
    finally:
        transport.close()


def connect_socket(host: str, port: int, timeout: float, *, nodelay: bool) -> socket.socket:
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


def classify(settings: SftpDestinationSettings, exc: BaseException, session: Session | None, what: str) -> DeliveryError:
    """Turn any failure into the matching runner.errors class, with a message naming the host."""
    s = settings
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
            f"{s.remote_dir.rstrip('/') or '/'} there"
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




__all__ = ["Connector", "PREFERRED_CIPHERS", "Session", "classify", "connect_socket", "server_fingerprint"]
