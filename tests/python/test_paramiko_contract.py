"""The paramiko internals the SFTP fast path relies on are still there and behave as it assumes.

paramiko has no public API for the extensions an SFTP server announces or for the host-key algorithms
in its KEXINIT, so runner.deliver.sftp overrides two private methods; and it writes and reads SFTP
packets on the channel itself. pyproject.toml pins paramiko to the minor tested here. On an upgrade,
add the new minor to TESTED_MINORS only once every test below passes on it: each failure names the
internal that moved.
"""

from __future__ import annotations

import inspect
import struct
from pathlib import Path

import paramiko
import paramiko.message
import paramiko.sftp
import pytest

from conftest_sftp import *  # noqa: F401,F403  sshd fixtures
from conftest_sftp import sftp_settings
from runner.deliver import Upload
from runner.deliver.sftp import hostkeys, wire
from runner.deliver.sftp.destination import SftpDestination
from runner.deliver.sftp.session import Connector

#: (major, minor) versions of paramiko this contract was checked against.
TESTED_MINORS = {(5, 1)}


def test_the_installed_paramiko_is_a_tested_minor() -> None:
    installed = tuple(int(part) for part in paramiko.__version__.split(".")[:2])
    assert installed in TESTED_MINORS, (
        f"paramiko {paramiko.__version__} is not a tested version ({', '.join('%d.%d' % v for v in sorted(TESTED_MINORS))}): "
        "run tests/python/test_paramiko_contract.py and bench/sftp_throughput.py on it, then add it to TESTED_MINORS "
        "and widen the pin in pyproject.toml"
    )


@pytest.mark.parametrize(
    ("owner", "name", "parameters"),
    [
        (paramiko.SFTPClient, "_send_version", ["self"]),  # overridden by wire.ExtensionsClient
        (paramiko.SFTPClient, "_send_packet", ["self", "t", "packet"]),  # called by the override
        (paramiko.SFTPClient, "_read_packet", ["self"]),  # called by the override
        (paramiko.Transport, "_parse_kex_init", ["self", "m"]),  # overridden by hostkeys.Transport
    ],
)
def test_each_overridden_or_called_private_method_keeps_its_signature(owner: type, name: str, parameters: list[str]) -> None:
    method = getattr(owner, name, None)
    assert callable(method), f"paramiko.{owner.__name__}.{name} is gone: runner.deliver.sftp relies on it"
    found = list(inspect.signature(method).parameters)
    assert found == parameters, f"paramiko.{owner.__name__}.{name} now takes {found}, not {parameters}"


def test_the_sftp_init_calls_the_version_exchange_once() -> None:
    # ExtensionsClient learns the extensions only if SFTPClient.__init__ goes through _send_version.
    source = inspect.getsource(paramiko.SFTPClient.__init__)
    assert source.count("self._send_version()") == 1, "paramiko.SFTPClient.__init__ no longer calls _send_version()"


def test_the_protocol_numbers_are_those_of_sftp_version_3() -> None:
    expected = {
        "CMD_INIT": 1, "CMD_VERSION": 2, "CMD_WRITE": 6, "CMD_STATUS": 101, "CMD_EXTENDED": 200,
        "CMD_EXTENDED_REPLY": 201, "SFTP_OK": 0, "SFTP_EOF": 1, "SFTP_NO_SUCH_FILE": 2, "SFTP_PERMISSION_DENIED": 3,
    }
    for name, value in expected.items():
        assert getattr(paramiko.sftp, name, None) == value, f"paramiko.sftp.{name} is not {value}"


def test_the_message_methods_the_overrides_use_exist() -> None:
    for name in ("add_int", "get_int", "get_text", "get_binary", "get_bytes", "get_list", "get_remainder"):
        assert callable(getattr(paramiko.message.Message, name, None)), f"paramiko.message.Message.{name} is gone"


def test_over_a_real_server_the_internals_give_what_the_fast_path_expects(sshd, remote_dir: Path) -> None:
    connector = Connector(sftp_settings(sshd, remote_dir, host_key=sshd.fingerprint), Path, wire.Tuning())
    session = connector.connect()
    try:
        assert isinstance(session.transport, hostkeys.Transport)
        announced = session.transport.announced_host_key_algorithms
        assert announced and session.transport.get_remote_server_key().get_name() in announced, (
            "paramiko.Transport._parse_kex_init no longer receives the server's KEXINIT"
        )
        assert "posix-rename@openssh.com" in session.extensions, "SFTPClient._send_version override saw no extensions"
        assert session.write_size > wire.SAFE_WRITE_SIZE, "the limits@openssh.com reply was not read from the channel"
        assert session.sftp.get_channel() is not None
        # paramiko's own request ids stay far below the ones the fast path uses.
        assert getattr(session.sftp, "request_number", 0) < 0x8000_0000
        remote = session.sftp.open(f"{remote_dir}/contract.bin", "wb")
        assert isinstance(getattr(remote, "handle", None), bytes), "paramiko.SFTPFile.handle is gone"
        # A reply paramiko did not ask for (ours, left unread after a failure) is skipped by its next request.
        handle = remote.handle
        body = struct.pack(">BII", paramiko.sftp.CMD_WRITE, 0xFFFF_FFF0, len(handle)) + handle + struct.pack(">QI", 0, 3) + b"abc"
        session.sftp.get_channel().sendall(struct.pack(">I", len(body)) + body)
        remote.close()
        assert session.sftp.stat(f"{remote_dir}/contract.bin").st_size == 3
    finally:
        session.close()


def test_a_delivery_over_the_fast_path_arrives_whole(sshd, remote_dir: Path, tmp_path: Path) -> None:
    local = tmp_path / "data.bin"
    local.write_bytes(bytes(range(256)) * 5000)  # several write requests of the server's size
    with SftpDestination(sftp_settings(sshd, remote_dir, host_key=sshd.fingerprint)) as destination:
        destination.deliver_one(Upload(local, "data.bin"))
    assert (remote_dir / "data.bin").read_bytes() == local.read_bytes()
