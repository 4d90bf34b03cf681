"""One FTP connection: TCP, TLS (explicit AUTH TLS or implicit) with the certificate verified, log-in,
PROT P, and passive data connections that resume the control connection's TLS session.

Data channel TLS session reuse: ProFTPD (`TLSOptions` without NoSessionReuseRequired) and vsftpd
(`require_ssl_reuse=YES`, its default) refuse a data connection that does not resume the control
connection's TLS session, as a proof that the same client opened both. Python's `ftplib.FTP_TLS`
starts a new session on every data connection, so `Client.ntransfercmd` passes the control
socket's session to `wrap_socket`.

Passive mode: EPSV first (the address is the control connection's by definition), PASV when the
server does not know EPSV. A PASV reply naming a private address while the control connection goes
to a public one (a server behind NAT that does not know its outside address) is replaced by the
control connection's address, as FileZilla and curl do.
"""

from __future__ import annotations

import ftplib
import hashlib
import ipaddress
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Callable

from runner.deliver.ftp.settings import FtpDestinationSettings
from runner.errors import AuthenticationError, CertificateError, DeliveryError, FeedsError, TransientDeliveryError


def fingerprint(der: bytes) -> str:
    """``SHA256:AB:CD:...`` of a DER certificate, as `openssl x509 -fingerprint -sha256` prints it."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return "SHA256:" + ":".join(digest[i : i + 2] for i in range(0, 64, 2))


class Client(ftplib.FTP_TLS):
    """ftplib's FTPS client with implicit TLS, data connections resuming the control connection's TLS
    session, a pinned certificate checked on every handshake, and EPSV-then-PASV passive mode."""

    def __init__(self, context: ssl.SSLContext, *, implicit: bool, pin: str | None, timeout: float) -> None:
        super().__init__(context=context, timeout=timeout)
        self.implicit = implicit
        self.pin = pin
        self._epsv: bool | None = None  # None: not tried yet
        #: Whether the last data connection resumed the control connection's TLS session.
        self.last_data_resumed: bool | None = None

    def connect(self, host: str = "", port: int = 0, timeout: float = -999, source_address=None) -> str:  # noqa: ANN001
        if not self.implicit:
            return super().connect(host, port, timeout, source_address)
        # Implicit FTPS: TLS from the first byte, before the server's greeting.
        self.host, self.port = host, port
        if timeout != -999:
            self.timeout = timeout
        sock = socket.create_connection((host, port), self.timeout)
        self.af = sock.family
        self.sock = self.context.wrap_socket(sock, server_hostname=host)
        self.check_pin(self.sock)
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def auth(self) -> str:
        reply = super().auth()
        self.check_pin(self.sock)
        return reply

    def check_pin(self, sock: ssl.SSLSocket) -> None:
        """With a pinned fingerprint the context verifies nothing: the pin is the whole check."""
        if self.pin is None:
            return
        der = sock.getpeercert(binary_form=True)
        shown = fingerprint(der) if der else "none"
        if shown != self.pin:
            raise CertificateError(
                f"the certificate of {self.host}:{self.port} has fingerprint {shown}, not the pinned "
                f"{self.pin}; if the server's certificate was renewed, check the new one with your provider "
                "and update FEEDS_FTP_CERT_FINGERPRINT (destination.cert_fingerprint). Not retried"
            )

    def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            try:
                conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
                self.last_data_resumed = conn.session_reused
                if not conn.session_reused:
                    self.check_pin(conn)
            except BaseException:
                conn.close()
                raise
        return conn, size

    def makepasv(self) -> tuple[str, int]:
        peer = self.sock.getpeername()[0]
        if self._epsv is not False:
            try:
                _, port = ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())
            except ftplib.error_perm:
                if self._epsv:
                    raise
                self._epsv = False
            else:
                self._epsv = True
                return peer, port
        host, port = ftplib.parse227(self.sendcmd("PASV"))
        return pasv_address(host, peer), port


def pasv_address(host: str, peer: str) -> str:
    """Where to open a PASV data connection: the reply's address, unless it is private (or 0.0.0.0)
    while the control connection's is not."""
    try:
        offered, control = ipaddress.ip_address(host), ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if offered.is_unspecified or (offered.is_private and not control.is_private):
        return peer
    return host


class Session:
    """One logged-in FTP connection in binary mode, in the remote directory's parent context."""

    def __init__(self, client: ftplib.FTP, settings: FtpDestinationSettings, keepalive: float) -> None:
        self.client = client
        self.settings = settings
        self.keepalive = keepalive
        self.features = features(client)
        self.last_used = time.monotonic()
        self.broken = False

    @property
    def tls(self) -> bool:
        return isinstance(self.client.sock, ssl.SSLSocket)

    def alive(self) -> bool:
        """Whether the connection still answers; a connection idle for `keepalive` seconds is asked
        with NOOP (which also keeps NAT and firewall state of an idle control connection fresh)."""
        if self.broken or self.client.sock is None:
            return False
        if time.monotonic() - self.last_used < self.keepalive:
            return True
        try:
            self.client.voidcmd("NOOP")
        except Exception:  # noqa: BLE001  any failure means the connection is gone
            self.broken = True
            return False
        self.last_used = time.monotonic()
        return True

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001  closing a broken connection may fail any way it likes
            pass


def features(client: ftplib.FTP) -> set[str]:
    """The FEAT reply's feature names, upper case ("MLST", "SIZE", "REST", "EPSV", ...)."""
    try:
        reply = client.sendcmd("FEAT")
    except ftplib.Error:
        return set()
    found = set()
    for line in reply.splitlines()[1:-1]:
        word = line.strip().split(" ")[0].upper()
        if word:
            found.add(word)
    return found


class Connector:
    """Opens sessions to one server with one set of settings."""

    def __init__(self, settings: FtpDestinationSettings, resolve: Callable[[Path], Path]) -> None:
        self.settings = settings
        self.resolve = resolve
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        #: Connection attempts made so far; shown in logs and tests.
        self.attempts = 0

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.effective_port}"

    def context(self) -> ssl.SSLContext:
        """The TLS context: the system CAs, the CA file, or (with a pin) no CA check but the pin."""
        with self._lock:
            if self._context is None:
                s = self.settings
                if s.cert_fingerprint:
                    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE  # Client.check_pin compares the exact certificate
                else:
                    cafile = None
                    if s.ca_file is not None:
                        cafile = self.resolve(s.ca_file)
                        if not cafile.is_file():
                            raise DeliveryError(f"CA file {cafile} not found; fix FEEDS_FTP_CA_FILE / destination.ca_file")
                    try:
                        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
                    except ssl.SSLError as exc:
                        raise DeliveryError(f"CA file {cafile} is not PEM certificates ({exc.reason})") from None
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                self._context = context
            return self._context

    def connect(self) -> Session:
        s = self.settings
        with self._lock:
            self.attempts += 1
        tls = s.tls != "none"
        client = Client(
            self.context() if tls else ssl.create_default_context(),
            implicit=s.tls == "implicit",
            pin=s.cert_fingerprint if tls else None,
            timeout=s.connect_timeout,
        )
        try:
            client.connect(s.host, s.effective_port)
            client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if s.keepalive:
                # The control connection sits idle during a long upload: TCP keep-alive probes keep a
                # NAT or firewall from dropping it (a NOOP mid-transfer confuses many servers).
                client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                if hasattr(socket, "TCP_KEEPIDLE"):
                    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, s.keepalive)
                    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, s.keepalive)
            if s.tls == "explicit":
                client.auth()
            try:
                client.login(s.username, s.password or "", secure=False)
            except ftplib.error_perm as exc:
                if str(exc).startswith("530") or str(exc).startswith("331"):
                    raise AuthenticationError(
                        f"the FTP server {self.where} refused the log-in of {s.username} ({_reply(exc)}); check the "
                        "user name and FEEDS_FTP_PASSWORD; not retried"
                    ) from None
                raise
            if tls:
                client.prot_p()
            client.voidcmd("TYPE I")
            client.sock.settimeout(s.operation_timeout)
            client.timeout = s.operation_timeout  # data connections too
            return Session(client, s, s.keepalive)
        except FeedsError:
            _close(client)
            raise
        except ssl.SSLCertVerificationError as exc:
            _close(client)
            raise CertificateError(
                f"the certificate of {self.where} is not trusted ({exc.verify_message}); it shows "
                f"{self.shown_fingerprint()}. If that is your provider's certificate, pin it with "
                "FEEDS_FTP_CERT_FINGERPRINT or give its CA with FEEDS_FTP_CA_FILE. Not retried"
            ) from None
        except Exception as exc:
            _close(client)
            raise connection_error(exc, self.where, s.connect_timeout) from None

    def shown_fingerprint(self) -> str:
        """The fingerprint of the certificate the server shows (unverified: for messages only)."""
        s = self.settings
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        client = Client(context, implicit=s.tls == "implicit", pin=None, timeout=s.connect_timeout)
        try:
            client.connect(s.host, s.effective_port)
            if s.tls == "explicit":
                client.auth()
            der = client.sock.getpeercert(binary_form=True)
            return f"fingerprint {fingerprint(der)}" if der else "no certificate"
        except Exception as exc:  # noqa: BLE001  only for the message
            return f"a certificate that could not be read again ({type(exc).__name__})"
        finally:
            _close(client)


def _close(client: ftplib.FTP) -> None:
    try:
        client.close()
    except Exception:  # noqa: BLE001
        pass


def _reply(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def connection_error(exc: BaseException, where: str, timeout: float) -> DeliveryError:
    if isinstance(exc, socket.gaierror):
        return DeliveryError(f"cannot resolve FTP host of {where} ({exc.strerror}); check FEEDS_FTP_HOST")
    if isinstance(exc, ConnectionRefusedError):
        return TransientDeliveryError(f"{where} refused the connection (is the FTP server running on that port?)")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return TransientDeliveryError(f"{where} did not complete connecting and logging in within {timeout:g}s")
    if isinstance(exc, ftplib.error_perm):
        return DeliveryError(f"the FTP server {where} refused the session set-up: {_reply(exc)}")
    if isinstance(exc, ssl.SSLError):
        return TransientDeliveryError(f"TLS with {where} failed: {exc.reason or exc}")
    if isinstance(exc, (EOFError, OSError, ftplib.error_temp, ftplib.error_reply, ftplib.error_proto)):
        return TransientDeliveryError(f"connection to {where} was lost while connecting ({_reply(exc)})")
    return DeliveryError(f"cannot connect to {where}: {type(exc).__name__}: {exc}")


def classify(settings: FtpDestinationSettings, exc: BaseException, session: Session | None, what: str) -> DeliveryError:
    """Turn any failure into the matching runner.errors class, with a message naming the host."""
    where = f"{settings.host}:{settings.effective_port}"
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, FeedsError):
        return DeliveryError(str(exc))
    if session is not None:
        session.broken = session.broken or not isinstance(exc, ftplib.error_perm)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return TransientDeliveryError(f"{where} did not answer within {settings.operation_timeout:g}s while trying to {what}")
    if isinstance(exc, ftplib.error_temp):
        # 4xx: the server says try again (421 closing, 425 no data connection, 450 busy, 452 no space now).
        return TransientDeliveryError(f"the FTP server {where} could not {what} for now ({_reply(exc)})")
    if isinstance(exc, ftplib.error_perm):
        reply = _reply(exc)
        hint = "; a full disk or quota on the server is a common cause" if reply.startswith("552") else ""
        if reply.startswith("550") and "ermission" in reply:
            hint = f"; check that {settings.username} may write to {settings.remote_dir} there"
        return DeliveryError(f"the FTP server {where} refused to {what} ({reply}){hint}")
    if isinstance(exc, (EOFError, ConnectionError, ssl.SSLError, OSError, ftplib.error_reply, ftplib.error_proto)):
        return TransientDeliveryError(f"connection to {where} was lost while trying to {what} ({_reply(exc)})")
    return DeliveryError(f"unexpected {type(exc).__name__} while trying to {what} on {where}: {exc}")


__all__ = ["Client", "Connector", "Session", "classify", "connection_error", "features", "fingerprint", "pasv_address"]
