"""Host-key verification for SFTP: a known_hosts file or a pinned SHA256 fingerprint, never trust-on-first-use.

A key the client cannot verify is refused with a message that shows the server's fingerprint and
how to pin it; a key that differs from the recorded one is refused loudly. There is no auto-add.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import paramiko

from runner.errors import HostKeyError

#: Host-key algorithms a key type stored in known_hosts can be negotiated with.
_ALGORITHMS_FOR_KEY_TYPE = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256"),
}


def fingerprint(key: paramiko.PKey) -> str:
    """The OpenSSH ``SHA256:...`` fingerprint of a public key (as `ssh-keygen -lf` prints it)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """How OpenSSH names a server in known_hosts: ``host`` on port 22, ``[host]:port`` otherwise."""
    return host if port == 22 else f"[{host}]:{port}"


def load_known_hosts(path: Path) -> paramiko.HostKeys:
    """Read a known_hosts file (hashed and ``[host]:port`` entries included); a missing file is empty."""
    keys = paramiko.HostKeys()
    if path.is_file():
        try:
            keys.load(str(path))
        except (OSError, UnicodeDecodeError) as exc:
            raise HostKeyError(f"cannot read known_hosts file {path}: {exc}") from None
    return keys


def recorded_keys(known_hosts: paramiko.HostKeys, host: str, port: int) -> dict[str, paramiko.PKey]:
    """The keys known_hosts records for this server, by key type (empty when the server is unknown)."""
    entry = known_hosts.lookup(known_hosts_name(host, port))
    return dict(entry) if entry else {}


def preferred_algorithms(recorded: dict[str, paramiko.PKey], default: tuple[str, ...]) -> tuple[str, ...]:
    """Negotiate a key type we can verify first, the way OpenSSH does, so a server with several
    host keys is not reported unknown just because it offered a type known_hosts lacks."""
    wanted: list[str] = []
    for key_type in recorded:
        for algorithm in _ALGORITHMS_FOR_KEY_TYPE.get(key_type, (key_type,)):
            if algorithm in default and algorithm not in wanted:
                wanted.append(algorithm)
    return tuple(wanted) + tuple(a for a in default if a not in wanted)


def verify(
    key: paramiko.PKey,
    host: str,
    port: int,
    *,
    pinned: str | None,
    known_hosts_path: Path,
    known_hosts: paramiko.HostKeys | None = None,
) -> str:
    """Check the server's key; return how it was verified, or raise HostKeyError.

    A pinned fingerprint, when set, is the only thing consulted; otherwise the known_hosts file.
    """
    offered = fingerprint(key)
    where = f"{host}:{port}"
    if pinned is not None:
        if offered == pinned:
            return f"matches the pinned fingerprint {pinned}"
        raise HostKeyError(
            f"HOST KEY MISMATCH for {where}: the server offered {key.get_name()} key {offered}, but the "
            f"pinned fingerprint (FEEDS_SFTP_HOST_KEY / destination.host_key) is {pinned}. The server may "
            "be an impostor or its key was replaced; nothing was sent. Confirm the new fingerprint with "
            "the server's administrator before changing the pin."
        )
    if known_hosts is None:
        known_hosts = load_known_hosts(known_hosts_path)
    recorded = recorded_keys(known_hosts, host, port)
    same_type = recorded.get(key.get_name())
    if same_type is not None:
        if same_type.asbytes() == key.asbytes():
            return f"matches {known_hosts_name(host, port)} in {known_hosts_path}"
        raise HostKeyError(
            f"HOST KEY MISMATCH for {where}: {known_hosts_path} records {key.get_name()} key "
            f"{fingerprint(same_type)}, but the server offered {offered}. The server may be an impostor "
            "or its key was replaced; nothing was sent. Confirm the new fingerprint with the server's "
            f"administrator, then replace the {known_hosts_name(host, port)} entry in {known_hosts_path}."
        )
    note = ""
    if recorded:
        note = f" ({known_hosts_path} only records {', '.join(sorted(recorded))} keys for it)"
    elif not known_hosts_path.is_file():
        note = f" ({known_hosts_path} does not exist)"
    raise HostKeyError(
        f"unknown host key for {where}: the server offered {key.get_name()} key {offered}{note}. "
        "Confirm this fingerprint with the server's administrator, then either pin it with "
        f"FEEDS_SFTP_HOST_KEY={offered} (or destination.host_key in feeds.yml), or add the server's "
        f"key to {known_hosts_path} as a {known_hosts_name(host, port)} entry "
        f"(for example `ssh-keyscan -p {port} {host} >> {known_hosts_path}`, after comparing fingerprints)."
    )


__all__ = ["fingerprint", "known_hosts_name", "load_known_hosts", "preferred_algorithms", "recorded_keys", "verify"]
