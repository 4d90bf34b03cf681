"""The SFTP write path: the server's extensions and write-size limit, resuming, pipelined large writes.

paramiko's SFTPFile.write costs several Python calls, a lock and a copy per 32 KiB, and plain `put`
reaches about half of OpenSSH's `sftp` on a fast link. Here one write request carries up to the
server's limit (``limits@openssh.com``) and its bytes go to the channel as one buffer, with many
requests in flight; the replies are read straight from the channel.

paramiko has no public API for the extensions a server announces, so `ExtensionsClient` overrides
`SFTPClient._send_version` (which calls `_send_packet` and `_read_packet`). That is the only use of
paramiko internals; the rest uses the channel (`SFTPClient.get_channel`) and an open file's `handle`.
pyproject.toml pins paramiko to the tested minor and tests/python/test_paramiko_contract.py checks
each of these, so an upgrade fails there by name instead of in a delivery.

The requests and replies sent here use ids from the top half of the 32-bit range, which paramiko's
own counter (from 1, one per request) never reaches, so a reply of ours that paramiko reads after a
failed upload is skipped as unknown rather than taken for one of its own.
"""

from __future__ import annotations

import collections
import errno
import itertools
import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

import paramiko
from paramiko.message import Message
from paramiko.sftp import (
    CMD_EXTENDED,
    CMD_EXTENDED_REPLY,
    CMD_INIT,
    CMD_STATUS,
    CMD_VERSION,
    CMD_WRITE,
    SFTP_EOF,
    SFTP_NO_SUCH_FILE,
    SFTP_OK,
    SFTP_PERMISSION_DENIED,
    SFTPError,
)

from runner.deliver import Digest
from runner.errors import DeliveryError
from runner.faults import checkpoint

log = logging.getLogger(__name__)

LIMITS = "limits@openssh.com"
#: Every SFTP server must accept writes of this size (draft-ietf-secsh-filexfer-02).
SAFE_WRITE_SIZE = 32768
_RESUME_CHECK_BYTES = 64 * 1024

#: Called with the bytes as they are read from the local file (the SHA-256 of what is sent).
Consume = Callable[[memoryview], None]
#: Called with the bytes sent so far.
Advance = Callable[[int], None]


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


class ExtensionsClient(paramiko.SFTPClient):
    """paramiko's client, also remembering the extensions the server announced in its version packet."""

    server_extensions: dict[str, bytes]

    def _send_version(self) -> int:
        message = Message()
        message.add_int(3)
        self._send_packet(CMD_INIT, message)
        kind, data = self._read_packet()
        if kind != CMD_VERSION:
            raise SFTPError("Incompatible sftp protocol")
        reply = Message(data)
        version = reply.get_int()
        self.server_extensions = {}
        while reply.get_remainder():
            name = reply.get_text()
            self.server_extensions[name] = reply.get_binary()
        return version


_ids = itertools.count()  # next() is atomic under the GIL: ids stay unique across threads


def _next_id() -> int:
    return 0x80000000 | (next(_ids) & 0x7FFFFFFF)


_HEAD = struct.Struct(">IB")  # packet length, packet type
_STATUS = struct.Struct(">II")  # request id, status code
_WRITE_HEAD = struct.Struct(">IBI")  # length, CMD_WRITE, request id
_WRITE_TAIL = struct.Struct(">QI")  # offset, data length


def _receive(channel: paramiko.Channel, size: int) -> bytes:
    parts = []
    while size:
        data = channel.recv(size)
        if not data:
            raise EOFError("SFTP channel closed while reading a reply")
        parts.append(data)
        size -= len(data)
    return b"".join(parts)


def _read_packet(channel: paramiko.Channel) -> tuple[int, bytes]:
    """(packet type, body after the type) of the next SFTP packet on the channel."""
    length, kind = _HEAD.unpack(_receive(channel, _HEAD.size))
    if length >> 24 or not length:
        raise SFTPError("garbage SFTP packet received")
    return kind, _receive(channel, length - 1)


def _send_all(channel: paramiko.Channel, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        sent = channel.send(view)
        if not sent:
            raise EOFError("SFTP channel closed while sending")
        view = view[sent:]


def _status_error(code: int, data: bytes) -> Exception:
    """The exception paramiko raises for a failed status (OSError with errno where it has one)."""
    text_length = struct.unpack_from(">I", data, 8)[0] if len(data) >= 12 else 0
    text = data[12 : 12 + text_length].decode("utf-8", "replace") or f"SFTP status {code}"
    if code == SFTP_EOF:
        return EOFError(text)
    if code == SFTP_NO_SUCH_FILE:
        return OSError(errno.ENOENT, text)
    if code == SFTP_PERMISSION_DENIED:
        return OSError(errno.EACCES, text)
    return OSError(text)


def write_size(sftp: ExtensionsClient, tuning: Tuning) -> int:
    """The largest write request the server takes (``limits@openssh.com``), capped by the tuning.

    Asked on a fresh client, before any other request: the reply is read straight from the channel."""
    if not (tuning.use_limits and LIMITS in getattr(sftp, "server_extensions", {})):
        return SAFE_WRITE_SIZE
    channel = sftp.get_channel()
    request_id = _next_id()
    name = LIMITS.encode()
    body = struct.pack(">BII", CMD_EXTENDED, request_id, len(name)) + name
    try:
        _send_all(channel, struct.pack(">I", len(body)) + body)
        kind, reply = _read_packet(channel)
    except (OSError, EOFError, paramiko.SSHException):
        return SAFE_WRITE_SIZE
    if kind != CMD_EXTENDED_REPLY or len(reply) < 28 or struct.unpack_from(">I", reply)[0] != request_id:
        return SAFE_WRITE_SIZE
    _max_packet, _max_read, max_write = struct.unpack_from(">QQQ", reply, 4)
    if not max_write:
        return SAFE_WRITE_SIZE
    return max(SAFE_WRITE_SIZE, min(max_write, tuning.max_write_size))


def write_pipelined(
    sftp: paramiko.SFTPClient,
    handle: bytes,
    source: BinaryIO,
    offset: int,
    total: int,
    size: int,
    tuning: Tuning,
    local: Path,
    consume: Consume,
    advance: Advance,
) -> None:
    """Send SSH_FXP_WRITE requests of up to `size` bytes from `source` (at `offset`) straight to the
    channel, keeping up to `tuning.outstanding` in flight, until `total` bytes are acknowledged."""
    channel = sftp.get_channel()
    handle_field = struct.pack(">I", len(handle)) + handle
    fixed = 1 + 4 + len(handle_field) + 12  # body length minus the data
    pending: collections.OrderedDict[int, int] = collections.OrderedDict()
    buffer = bytearray(max(tuning.read_size, size))
    view = memoryview(buffer)
    position = offset
    acknowledged = offset

    def read_status() -> None:
        nonlocal acknowledged
        kind, data = _read_packet(channel)
        if kind != CMD_STATUS:
            raise SFTPError(f"expected a status reply to a write, got packet type {kind}")
        reply_id, code = _STATUS.unpack_from(data)
        length = pending.pop(reply_id, None)
        if length is None:
            raise SFTPError(f"reply to unknown request {reply_id}")
        if code != SFTP_OK:
            raise _status_error(code, data)
        acknowledged += length

    while position < total:
        filled = source.readinto(buffer)
        if not filled:
            raise DeliveryError(f"{local} shrank while it was being uploaded")
        consume(view[:filled])
        start = 0
        while start < filled:
            length = min(size, filled - start)
            request_id = _next_id()
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
            start += length
            position += length
            while pending and (len(pending) >= tuning.outstanding or channel.recv_ready()):
                read_status()
        advance(position)
        checkpoint("upload")
    while pending:
        read_status()
    if acknowledged != total:
        raise DeliveryError(f"{local}: server acknowledged {acknowledged} of {total} bytes")


def resume_offset(sftp: paramiko.SFTPClient, temporary: str, local: Path, total: int) -> int:
    """How much of the temporary file is already there and matches the local file (0: start over)."""
    try:
        size = sftp.stat(temporary).st_size or 0
    except FileNotFoundError:
        return 0
    if size > total:
        return 0
    check = min(size, _RESUME_CHECK_BYTES)
    if check:
        with sftp.open(temporary, "rb") as remote, open(local, "rb") as source:
            remote.seek(size - check)
            source.seek(size - check)
            if remote.read(check) != source.read(check):
                log.warning("%s does not match the local file; starting over", temporary)
                return 0
    return size


def upload_file(
    sftp: paramiko.SFTPClient,
    size: int,
    tuning: Tuning,
    local: Path,
    temporary: str,
    offset: int,
    total: int,
    progress: Callable[[Path, int, int], None] | None,
    digest: Digest,
) -> None:
    """Write `local` from `offset` into the remote file `temporary` (created, or resumed when `offset`),
    in write requests of `size` bytes; `digest` sees every byte read."""
    with open(local, "rb") as source:
        remote = sftp.open(temporary, "r+b" if offset else "wb")
        try:
            source.seek(offset)
            if tuning.direct_writes:
                advance = (lambda sent: progress(local, sent, total)) if progress else (lambda sent: None)
                write_pipelined(sftp, remote.handle, source, offset, total, size, tuning, local, digest.update, advance)
            else:
                remote.set_pipelined(True)
                remote.seek(offset)
                sent = offset
                while chunk := source.read(tuning.read_size):
                    remote.write(chunk)
                    digest.update(chunk)
                    sent += len(chunk)
                    if progress:
                        progress(local, sent, total)
        finally:
            remote.close()


__all__ = [
    "ExtensionsClient", "LIMITS", "SAFE_WRITE_SIZE", "Tuning", "resume_offset", "upload_file", "write_pipelined",
    "write_size",
]
