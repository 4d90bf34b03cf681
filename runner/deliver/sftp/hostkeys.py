"""Host-key verification for SFTP: a known_hosts file or a pinned SHA256 fingerprint, never trust-on-first-use.

A key the client cannot verify is refused with a message that shows the server's fingerprint and
how to pin it; a key that differs from the recorded one is refused loudly. There is no auto-add.

known_hosts is read line by line the way OpenSSH reads it: hashed names (``|1|...``), ``[host]:port``,
``*``/``?`` patterns and ``!`` negations; ``@revoked`` keys are refused for the hosts their line names;
``@cert-authority`` lines are skipped (host certificates are not supported, plain host keys are
checked). A line that cannot be read is skipped with a warning naming the file and line, so one bad
line cannot break the others.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import paramiko
from paramiko.message import Message

from runner.errors import HostKeyError

log = logging.getLogger(__name__)

#: Host-key algorithms a key type stored in known_hosts can be negotiated with.
_ALGORITHMS_FOR_KEY_TYPE = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
}
_HASHED = "|1|"


def fingerprint(key: paramiko.PKey) -> str:
    """The OpenSSH ``SHA256:...`` fingerprint of a public key (as `ssh-keygen -lf` prints it)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """How OpenSSH names a server in known_hosts: ``host`` on port 22, ``[host]:port`` otherwise."""
    return host if port == 22 else f"[{host}]:{port}"


@dataclass(frozen=True)
class KnownHost:
    """One usable known_hosts line: whom it names, its key, and whether the key is ``@revoked``."""

    line: int
    key: paramiko.PKey
    revoked: bool
    patterns: tuple[str, ...] = ()  # comma-separated names and patterns, lower case
    hashed: tuple[bytes, bytes] | None = None  # (salt, HMAC-SHA1 of the name) of a ``|1|`` entry

    def names(self, name: str) -> bool:
        """Whether this line is about the server OpenSSH calls ``name`` (see `known_hosts_name`)."""
        name = name.lower()
        if self.hashed is not None:
            salt, digest = self.hashed
            return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), digest)
        matched = False
        for pattern in self.patterns:
            negated = pattern.startswith("!")
            if _wildcard(pattern[1:] if negated else pattern).fullmatch(name):
                if negated:  # as OpenSSH: a matching negation excludes the host whatever else matches
                    return False
                matched = True
        return matched


@dataclass(frozen=True)
class KnownHosts:
    """The usable lines of one known_hosts file (empty when the file does not exist)."""

    path: Path
    entries: tuple[KnownHost, ...] = ()

    def lookup(self, host: str, port: int) -> list[KnownHost]:
        """The lines about this server, revoked ones included, in file order."""
        name = known_hosts_name(host, port)
        return [entry for entry in self.entries if entry.names(name)]


def _wildcard(pattern: str) -> re.Pattern[str]:
    """OpenSSH's host pattern: ``*`` any run of characters, ``?`` one character, nothing else special."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern))


def load_known_hosts(path: Path) -> KnownHosts:
    """Read a known_hosts file (hashed and ``[host]:port`` entries included); a missing file is empty."""
    if not path.is_file():
        return KnownHosts(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HostKeyError(f"cannot read known_hosts file {path}: {exc}") from None
    entries = []
    for number, raw in enumerate(data.splitlines(), 1):
        entry = _parse_line(raw, path, number)
        if entry is not None:
            entries.append(entry)
    return KnownHosts(path, tuple(entries))


def _parse_line(raw: bytes, path: Path, number: int) -> KnownHost | None:
    """One known_hosts line as OpenSSH reads it, or None (comment, blank, skipped or unreadable)."""

    def skip(reason: str) -> None:
        log.warning("%s line %d ignored: %s", path, number, reason)

    try:
        fields = raw.decode("utf-8").split()
    except UnicodeDecodeError:
        return skip("not UTF-8 text")
    if not fields or fields[0].startswith("#"):
        return None
    marker = None
    if fields[0].startswith("@"):
        marker, fields = fields[0], fields[1:]
        if marker == "@cert-authority":
            log.debug("%s line %d skipped: @cert-authority (host certificates are not supported; "
                      "plain host keys are checked)", path, number)
            return None
        if marker != "@revoked":
            return skip(f"unknown marker {marker!r} (OpenSSH knows @cert-authority and @revoked)")
    if len(fields) < 3:
        return skip("expected host names, a key type and a base64 key")
    names, key_type, blob = fields[:3]
    try:
        data = base64.b64decode(blob, validate=True)
    except binascii.Error:
        return skip(f"the {key_type} key is not valid base64")
    try:
        key = paramiko.PKey.from_type_string(key_type, data)
    except paramiko.UnknownKeyType:
        if _blob_type(data) == key_type:  # a sound key of a type OpenSSH knows and paramiko does not
            log.debug("%s line %d skipped: %s keys are not supported", path, number, key_type)
            return None
        return skip(f"{key_type!r} is not a key type followed by its key")
    except Exception as exc:  # noqa: BLE001  key data from a file may be broken in any way a parser can fail
        return skip(f"not a valid {key_type} key ({type(exc).__name__})")
    revoked = marker == "@revoked"
    if names.startswith(_HASHED):
        try:
            salt, digest = (base64.b64decode(part, validate=True) for part in names[len(_HASHED):].split("|"))
        except (binascii.Error, ValueError):
            return skip("a hashed host name (|1|salt|hash) that cannot be decoded")
        return KnownHost(number, key, revoked, hashed=(salt, digest))
    return KnownHost(number, key, revoked, patterns=tuple(names.lower().split(",")))


def _blob_type(data: bytes) -> str | None:
    """The key type a public key blob names first (RFC 4253 6.6), or None if it names none."""
    try:
        return Message(data).get_text()
    except Exception:  # noqa: BLE001  any blob: a bad one is simply not a key
        return None


def recorded_keys(known_hosts: KnownHosts, host: str, port: int) -> list[paramiko.PKey]:
    """The keys known_hosts accepts for this server, in file order (empty when the server is unknown)."""
    return [entry.key for entry in known_hosts.lookup(host, port) if not entry.revoked]


def preferred_algorithms(
    recorded: Iterable[paramiko.PKey], default: tuple[str, ...], exclude: Iterable[paramiko.PKey] = ()
) -> tuple[str, ...]:
    """Negotiate a key type we can verify first, the way OpenSSH does, so a server with several
    host keys is not reported unknown just because it offered a type known_hosts lacks; leave out
    the algorithms of the ``exclude`` keys' types (ones the server already showed)."""
    excluded = {a for key in exclude for a in _ALGORITHMS_FOR_KEY_TYPE.get(key.get_name(), (key.get_name(),))}
    wanted: list[str] = []
    for key in recorded:
        for algorithm in _ALGORITHMS_FOR_KEY_TYPE.get(key.get_name(), (key.get_name(),)):
            if algorithm in default and algorithm not in wanted:
                wanted.append(algorithm)
    return tuple(a for a in (*wanted, *(a for a in default if a not in wanted)) if a not in excluded)


class Transport(paramiko.Transport):
    """paramiko's transport, also keeping the host-key algorithms the server announced in its KEXINIT
    (RFC 4253 7.1), which paramiko parses and drops. Knowing them, a client looking for the pinned key
    asks only for key types the server has, instead of a handshake that cannot agree (which paramiko's
    transport thread reports on stderr with a traceback)."""

    announced_host_key_algorithms: frozenset[str] | None = None

    def _parse_kex_init(self, m: Message) -> None:
        announced = Message(m.get_remainder())  # a copy: paramiko parses `m` itself next
        announced.get_bytes(16)  # cookie
        announced.get_list()  # key exchange algorithms
        self.announced_host_key_algorithms = frozenset(announced.get_list())
        super()._parse_kex_init(m)


def untried_algorithms(transport: paramiko.Transport, tried: Iterable[paramiko.PKey]) -> tuple[str, ...]:
    """Host-key algorithms that this client accepts and the server announced, for key types not among
    the ``tried`` keys: what is left to ask for when the key a server showed is not the pinned one."""
    ours = preferred_algorithms((), tuple(transport.get_security_options().key_types), exclude=tried)
    announced = getattr(transport, "announced_host_key_algorithms", None)
    return tuple(a for a in ours if announced is None or a in announced)


def pin_mismatch(offered: Sequence[paramiko.PKey], host: str, port: int, pinned: str) -> HostKeyError:
    """The error for a server none of whose host keys (``offered``, every one it showed) is the pinned one."""
    keys = " and ".join(f"{key.get_name()} key {fingerprint(key)}" for key in offered)
    return HostKeyError(
        f"HOST KEY MISMATCH for {host}:{port}: the server offered {keys}, but the "
        f"pinned fingerprint (FEEDS_SFTP_HOST_KEY / destination.host_key) is {pinned}. The server may "
        "be an impostor or its key was replaced; nothing was sent. Confirm the new fingerprint with "
        "the server's administrator before changing the pin."
    )


def verify(
    key: paramiko.PKey,
    host: str,
    port: int,
    *,
    pinned: str | None,
    known_hosts_path: Path,
    known_hosts: KnownHosts | None = None,
) -> str:
    """Check the server's key; return how it was verified, or raise HostKeyError.

    A pinned fingerprint, when set, is the only thing consulted; otherwise the known_hosts file.
    """
    offered = fingerprint(key)
    where = f"{host}:{port}"
    if pinned is not None:
        if offered == pinned:
            return f"matches the pinned fingerprint {pinned}"
        raise pin_mismatch([key], host, port, pinned)
    if known_hosts is None:
        known_hosts = load_known_hosts(known_hosts_path)
    entries = known_hosts.lookup(host, port)
    revoked = next((e for e in entries if e.revoked and e.key.asbytes() == key.asbytes()), None)
    if revoked is not None:
        raise HostKeyError(
            f"REVOKED host key for {where}: the server offered {key.get_name()} key {offered}, which "
            f"{known_hosts_path} line {revoked.line} marks @revoked. Nothing was sent; not retried. "
            "The server must present another key: ask its administrator."
        )
    recorded = [e.key for e in entries if not e.revoked]
    if any(k.asbytes() == key.asbytes() for k in recorded):
        return f"matches {known_hosts_name(host, port)} in {known_hosts_path}"
    same_type = [k for k in recorded if k.get_name() == key.get_name()]
    if same_type:
        raise HostKeyError(
            f"HOST KEY MISMATCH for {where}: {known_hosts_path} records {key.get_name()} key "
            f"{', '.join(fingerprint(k) for k in same_type)}, but the server offered {offered}. The server may be "
            "an impostor or its key was replaced; nothing was sent. Confirm the new fingerprint with the server's "
            f"administrator, then replace the {known_hosts_name(host, port)} entry in {known_hosts_path}."
        )
    note = ""
    if recorded:
        note = f" ({known_hosts_path} only records {', '.join(sorted({k.get_name() for k in recorded}))} keys for it)"
    elif not known_hosts_path.is_file():
        note = f" ({known_hosts_path} does not exist)"
    raise HostKeyError(
        f"unknown host key for {where}: the server offered {key.get_name()} key {offered}{note}. "
        "Confirm this fingerprint with the server's administrator, then either pin it with "
        f"FEEDS_SFTP_HOST_KEY={offered} (or destination.host_key in feeds.yml), or add the server's "
        f"key to {known_hosts_path} as a {known_hosts_name(host, port)} entry "
        f"(for example `ssh-keyscan -p {port} {host} >> {known_hosts_path}`, after comparing fingerprints)."
    )


__all__ = [
    "KnownHost",
    "KnownHosts",
    "Transport",
    "fingerprint",
    "known_hosts_name",
    "load_known_hosts",
    "pin_mismatch",
    "preferred_algorithms",
    "recorded_keys",
    "untried_algorithms",
    "verify",
]
