"""Settings of destination `ftp`: its keys under `destination:`, its FEEDS_FTP_* variables, its secrets.

Imported with the configuration on every command, so it imports pydantic only; ftplib and ssl are
imported when a destination is made.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from runner.config import Count, DestinationSettings, Number
from runner.deliver.registry import Protocol

_HEX = re.compile(r"[0-9A-F]{64}")


def normalise_fingerprint(value: str) -> str:
    """``SHA256:AB:CD:...`` (64 hex digits, upper case, colon-separated) from any usual spelling: with
    or without ``SHA256:``, colons, spaces, any case (as `openssl x509 -fingerprint -sha256` or a
    browser shows it)."""
    digits = re.sub(r"[\s:]", "", value.strip().removeprefix("SHA256:").removeprefix("sha256:")).upper()
    if not _HEX.fullmatch(digits):
        raise ValueError(
            "must be the SHA-256 fingerprint of the server certificate: 64 hex digits, colons allowed "
            "(as shown by `feeds check` or `openssl x509 -noout -fingerprint -sha256`)"
        )
    return "SHA256:" + ":".join(digits[i : i + 2] for i in range(0, 64, 2))


class FtpDestinationSettings(DestinationSettings):
    type: Literal["ftp"] = "ftp"
    host: str
    port: Count | None = Field(None, ge=1, le=65535, description="default 21, or 990 with tls: implicit")
    username: str
    password: str | None = Field(None, repr=False, description="from FEEDS_FTP_PASSWORD only")
    tls: Literal["explicit", "implicit", "none"] = Field(
        "explicit",
        description="explicit: AUTH TLS then PROT P (default); implicit: TLS from the first byte (port 990); "
        "none: plain FTP, credentials and files in clear",
    )
    ca_file: Path | None = Field(None, description="CA certificates (PEM) to verify the server with, instead of the system's")
    cert_fingerprint: str | None = Field(None, description="pinned SHA-256 fingerprint of the server certificate")
    remote_dir: str = "."
    create_dirs: bool = False
    replace_existing: bool = True
    connect_timeout: Number = Field(15.0, gt=0)
    operation_timeout: Number = Field(60.0, gt=0)
    keepalive: Count = Field(15, ge=0, description="seconds idle before a pooled connection is checked with NOOP")
    retries: Count = Field(4, ge=0)
    backoff: Number = Field(1.0, ge=0)
    concurrency: Count = Field(2, ge=1, le=16, description="files uploaded at once, each over its own connection")

    @field_validator("cert_fingerprint")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        return None if value is None else normalise_fingerprint(value)

    @property
    def effective_port(self) -> int:
        return self.port or (990 if self.tls == "implicit" else 21)


def _make(settings: FtpDestinationSettings, base_dir: Path):  # noqa: ANN202  ftplib and ssl only when called
    from runner.deliver.ftp.destination import FtpDestination

    return FtpDestination(settings, project_dir=base_dir)


PROTOCOL = Protocol(
    "ftp",
    FtpDestinationSettings,
    _make,
    environment={
        "FEEDS_FTP_HOST": "host",
        "FEEDS_FTP_PORT": "port",
        "FEEDS_FTP_USER": "username",
        "FEEDS_FTP_PASSWORD": "password",
        "FEEDS_FTP_TLS": "tls",
        "FEEDS_FTP_CA_FILE": "ca_file",
        "FEEDS_FTP_CERT_FINGERPRINT": "cert_fingerprint",
        "FEEDS_FTP_REMOTE_DIR": "remote_dir",
    },
    # Setting the host selects the FTP destination, whatever feeds.yml says.
    selected_by="FEEDS_FTP_HOST",
    secrets=("password",),
)

__all__ = ["FtpDestinationSettings", "PROTOCOL", "normalise_fingerprint"]
