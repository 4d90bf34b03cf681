"""`feeds check` for destination `ftp`: logs in, shows the certificate and its fingerprint, writes,
renames (onto an existing file, to learn whether the server allows it) and removes probe files, and
reports what the server supports: MLST, SIZE, REST, EPSV, rename onto an existing file, TLS session
reuse on data connections."""

from __future__ import annotations

import ftplib
import secrets
import ssl
from typing import TYPE_CHECKING

from runner.deliver.ftp.session import Session, fingerprint
from runner.deliver.ftp.settings import FtpDestinationSettings
from runner.errors import DeliveryError

if TYPE_CHECKING:
    from runner.deliver.ftp.destination import FtpDestination


def report(destination: FtpDestination, session: Session) -> list[str]:
    """What `feeds check` shows: log-in, certificate, features, and a probe written, renamed onto another and removed."""
    s = destination.settings
    client = session.client
    destination._ensure_remote_dir(session)
    lines = [f"ftp: logged in to {s.host}:{s.effective_port} as {s.username} ({_tls_mode(s.tls)})"]
    if session.tls:
        lines.append("certificate: " + _describe_certificate(client.sock, s))
    probe = destination._remote_path(f".feeds-check-{secrets.token_hex(4)}.tmp")
    other = destination._remote_path(f".feeds-check-{secrets.token_hex(4)}.tmp")
    try:
        for path in (probe, other):
            client.storbinary(f"STOR {path}", _Bytes(b"feeds check\n"))
        if destination._size(session, probe) != 12:
            raise DeliveryError(f"{s.host}: test file {probe} has the wrong size after writing it")
        try:
            client.rename(probe, other)
            replaces = True
        except ftplib.error_perm:
            replaces = False
        destination._replaces = replaces
        for path in (probe, other):
            destination._remove_if_present(session, path)
    except Exception as exc:
        for path in (probe, other):
            destination._remove_quietly(session, path)
        raise destination._classify(exc, session, f"write a test file {probe}") from None
    supported = session.features
    yes = {True: "yes", False: "no"}
    lines += [
        f"server: {(client.welcome or '').strip()[:80]}",
        "supports: "
        + ", ".join(
            f"{name} {yes[name in supported]}" for name in ("MLST", "SIZE", "REST", "EPSV")
        ),
        "rename onto an existing file: "
        + ("yes (a waiting file is replaced in one step)" if replaces
           else "refused (a waiting file is moved aside to .NAME.old, then replaced; the final name briefly absent)"),
    ]
    if session.tls:
        resumed = client.last_data_resumed
        lines.append(
            "TLS session reuse on data connections: "
            + ("yes (each data connection resumes the control connection's session)" if resumed
               else "not resumed (the server accepted new sessions)")
        )
    lines.append(f"remote directory {destination._remote_dir()} is writable (test file written, renamed and removed)")
    return lines


class _Bytes:
    """A tiny readable for storbinary."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, _size: int = -1) -> bytes:
        data, self._data = self._data, b""
        return data


def _tls_mode(tls: str) -> str:
    return {
        "explicit": "explicit TLS: AUTH TLS, data connections PROT P",
        "implicit": "implicit TLS",
        "none": "plain FTP: the password and the files travel in clear",
    }[tls]


def _describe_certificate(sock: ssl.SSLSocket, settings: FtpDestinationSettings) -> str:
    der = sock.getpeercert(binary_form=True) or b""
    how = "matches the pinned fingerprint" if settings.cert_fingerprint else (
        f"verified against {settings.ca_file}" if settings.ca_file else "verified against the system CAs"
    )
    try:
        from cryptography import x509

        cert = x509.load_der_x509_certificate(der)
        about = (f"subject {cert.subject.rfc4514_string()}, issuer {cert.issuer.rfc4514_string()}, "
                 f"valid until {cert.not_valid_after_utc:%Y-%m-%d}")
    except Exception:  # noqa: BLE001  the fingerprint is what matters
        about = "details unreadable"
    return f"{fingerprint(der)} ({how}); {about}"


__all__ = ["report"]
