"""pytest fixtures for SFTP tests: a real OpenSSH sshd on a loopback port, and a cutting TCP proxy.

Import the fixtures into a test module with ``from conftest_sftp import *`` (tests/python is on
sys.path under pytest's default import mode).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from runner.deliver.sftp.settings import SftpDestinationSettings
from sshd import SshServer, sshd_missing_reason

requires_sshd = pytest.mark.skipif(sshd_missing_reason() is not None, reason=sshd_missing_reason() or "")

_names = itertools.count()


@pytest.fixture(scope="session")
def sshd_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., SshServer]]:
    """Start sshd servers on demand (``sshd_factory(sftp_flags=["-R"])``); all are stopped at the end."""
    reason = sshd_missing_reason()
    if reason:
        if os.environ.get("FEEDS_REQUIRE_SSHD"):
            pytest.fail(f"FEEDS_REQUIRE_SSHD is set but the SFTP tests cannot run: {reason}")
        pytest.skip(reason)
    servers: list[SshServer] = []

    def start(**options: object) -> SshServer:
        server = SshServer(tmp_path_factory.mktemp("sshd"), **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def sshd(sshd_factory: Callable[..., SshServer]) -> SshServer:
    """One shared stock server (posix-rename offered, read-write); tests use their own remote directory."""
    return sshd_factory()


@pytest.fixture
def remote_dir(sshd: SshServer) -> Path:
    """A fresh, empty directory on the shared server (local path; the client sees the same path)."""
    path = sshd.upload_dir / f"t{next(_names)}"
    path.mkdir()
    return path


def sftp_settings(server: SshServer, remote: str | Path | None = None, **overrides: object) -> SftpDestinationSettings:
    """Settings that log in to ``server`` with its test key and verify its host key via known_hosts."""
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": server.port,
        "username": server.user,
        "remote_dir": str(remote) if remote is not None else server.remote_upload_dir,
        "key_file": server.client_key,
        "known_hosts": server.write_known_hosts(),
        "use_agent": False,
        "connect_timeout": 5.0,
        "operation_timeout": 10.0,
        "backoff": 0.0,
    }
    values.update(overrides)
    return SftpDestinationSettings(**values)


def sftp_env(server: SshServer, remote: Path) -> dict[str, str]:
    """FEEDS_SFTP_* variables that point `feeds` at ``server``, delivering into ``remote``."""
    return {
        "FEEDS_SFTP_HOST": "127.0.0.1",
        "FEEDS_SFTP_PORT": str(server.port),
        "FEEDS_SFTP_USER": server.user,
        "FEEDS_SFTP_KEY_FILE": str(server.client_key),
        "FEEDS_SFTP_KNOWN_HOSTS": str(server.write_known_hosts(server.etc / "known_hosts_client")),
        "FEEDS_SFTP_REMOTE_DIR": str(remote),
    }



class CuttingProxy:
    """A loopback TCP proxy that forwards to ``target`` and can cut a connection after N bytes.

    ``cuts`` maps a connection number (0 = first) to the number of client-to-server bytes after
    which that connection is reset; ``stalls`` likewise, after which it silently stops forwarding
    (a hung server or a dead link). ``sent`` records the client-to-server bytes of each connection.
    ``cut_all()`` resets every open connection at once; while ``refusing`` is set, new connections
    are reset as soon as they are accepted (a link that stays down, so every retry fails).
    ``mute_all()`` drops every later server-to-client byte of the connections open now: requests
    still reach the server, their answers are lost.
    """

    def __init__(
        self, target_port: int, cuts: dict[int, int] | None = None, stalls: dict[int, int] | None = None
    ) -> None:
        self.target_port = target_port
        self.cuts = dict(cuts or {})
        self.stalls = dict(stalls or {})
        self.sent: list[int] = []
        self.refusing = False
        self._live: list[tuple[socket.socket, socket.socket]] = []
        self._muted: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refusing:
                _reset(client)
                continue
            with self._lock:
                number = len(self.sent)
                self.sent.append(0)
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._live.append((client, upstream))
            stalled = threading.Event()
            for args in ((client, upstream, number, stalled), (upstream, client, None, stalled)):
                thread = threading.Thread(target=self._pump, args=args, daemon=True)
                thread.start()
                self._threads.append(thread)

    def _pump(self, source: socket.socket, sink: socket.socket, number: int | None, stalled: threading.Event) -> None:
        """Copy one direction; ``number`` is set for the client-to-server direction, which is counted."""
        cut = self.cuts.get(number) if number is not None else None
        stall = self.stalls.get(number) if number is not None else None
        try:
            while True:
                data = source.recv(65536)
                if not data or stalled.is_set():
                    break
                if number is None and source in self._muted:
                    continue
                if number is not None:
                    limit = min(x for x in (cut, stall, float("inf")) if x is not None)
                    if self.sent[number] + len(data) >= limit:
                        data = data[: int(limit) - self.sent[number]]
                        sink.sendall(data)
                        self.sent[number] += len(data)
                        if limit == cut:
                            _reset(source)
                            _reset(sink)
                            return
                        stalled.set()
                        break
                    self.sent[number] += len(data)
                sink.sendall(data)
        except OSError:
            pass
        if stalled.is_set():
            while not self._stopping:  # hold the connection open, forwarding nothing
                time.sleep(0.05)
            return
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut_all(self) -> None:
        """Reset every connection open now, as a dropped link would."""
        with self._lock:
            live, self._live = self._live, []
        for client, upstream in live:
            _reset(client)
            _reset(upstream)

    def mute_all(self) -> None:
        """Lose every answer the server sends from now on over the connections open now."""
        with self._lock:
            self._muted.update(upstream for _, upstream in self._live)

    def close(self) -> None:
        self._stopping = True
        self._listener.close()


def _reset(sock: socket.socket) -> None:
    """Close with RST, as a dropped connection or middlebox would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading it; close alone may not
    with contextlib.suppress(OSError):
        sock.close()


@pytest.fixture
def cutting_proxy() -> Iterator[Callable[..., CuttingProxy]]:
    proxies: list[CuttingProxy] = []

    def start(target_port: int, cuts: dict[int, int] | None = None, stalls: dict[int, int] | None = None) -> CuttingProxy:
        proxy = CuttingProxy(target_port, cuts, stalls)
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.close()


__all__ = [
    "CuttingProxy",
    "cutting_proxy",
    "remote_dir",
    "requires_sshd",
    "sftp_settings",
    "sshd",
    "sshd_factory",
]
