"""Settings of destination `sftp`: its keys under `destination:`, its FEEDS_SFTP_* variables, its secrets.

Imported with the configuration on every command, so it imports pydantic only; paramiko is imported
when a destination is made.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from runner.config import Count, DestinationSettings, Number
from runner.deliver.registry import Protocol


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity, e.g. a container's cpuset), else all of them."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


class SftpDestinationSettings(DestinationSettings):
    type: Literal["sftp"] = "sftp"
    host: str
    port: Count = Field(22, ge=1, le=65535)
    username: str
    remote_dir: str = "."
    key_file: Path | None = None
    key_passphrase: str | None = Field(None, repr=False, description="from FEEDS_SFTP_KEY_PASSPHRASE only")
    password: str | None = Field(None, repr=False, description="from FEEDS_SFTP_PASSWORD only")
    use_agent: bool = True
    known_hosts: Path | None = Field(None, description="known_hosts file; default ~/.ssh/known_hosts")
    host_key: str | None = Field(None, description="pinned host key fingerprint, SHA256:...")
    create_dirs: bool = False
    replace_existing: bool = True
    connect_timeout: Number = Field(15.0, gt=0)
    operation_timeout: Number = Field(60.0, gt=0)
    keepalive: Count = Field(15, ge=0)
    retries: Count = Field(4, ge=0)
    backoff: Number = Field(1.0, ge=0)
    concurrency: Count = Field(
        default_factory=lambda: max(1, min(4, _usable_cpus() // 2)),
        ge=1,
        le=16,
        description="files uploaded at once, each over its own connection; default half the CPUs (1 to 4): "
        "each connection keeps about one core busy on a fast link, and a run exports while it uploads. "
        "Raise it for a slow, far server, where each connection waits on the network",
    )

    @field_validator("host_key")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # 32 bytes of SHA-256 are 43 base64 characters; `ssh-keygen -l` drops the `=` padding, other
        # tools keep it. Normalise to OpenSSH's form, so a padded pin is not taken for another key.
        digest = value.strip().removeprefix("SHA256:").rstrip("=")
        base64_digits = all(c.isascii() and (c.isalnum() or c in "+/") for c in digest)
        if not value.strip().startswith("SHA256:") or len(digest) != 43 or not base64_digits:
            raise ValueError(
                "must be a SHA256 fingerprint like 'SHA256:AbC...' (43 base64 characters after 'SHA256:', "
                "as shown by `feeds check` or `ssh-keygen -lf`)"
            )
        return "SHA256:" + digest


def _make(settings: SftpDestinationSettings, base_dir: Path):  # noqa: ANN202  paramiko only when called
    from runner.deliver.sftp.destination import SftpDestination

    return SftpDestination(settings, project_dir=base_dir)


PROTOCOL = Protocol(
    "sftp",
    SftpDestinationSettings,
    _make,
    environment={
        "FEEDS_SFTP_HOST": "host",
        "FEEDS_SFTP_PORT": "port",
        "FEEDS_SFTP_USER": "username",
        "FEEDS_SFTP_KEY_FILE": "key_file",
        "FEEDS_SFTP_KEY_PASSPHRASE": "key_passphrase",
        "FEEDS_SFTP_PASSWORD": "password",
        "FEEDS_SFTP_KNOWN_HOSTS": "known_hosts",
        "FEEDS_SFTP_HOST_KEY": "host_key",
        "FEEDS_SFTP_REMOTE_DIR": "remote_dir",
    },
    # Setting the host selects the SFTP destination, whatever feeds.yml says.
    selected_by="FEEDS_SFTP_HOST",
    secrets=("password", "key_passphrase"),
)

__all__ = ["SftpDestinationSettings", "PROTOCOL"]
