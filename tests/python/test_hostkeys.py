"""Host keys on a server that holds several (ed25519 and RSA, as most do), against a real sshd:
a pin of any of its keys is found, and known_hosts is read the way OpenSSH reads it (markers,
hashed names, several keys per host; one unreadable line breaks no other)."""

from __future__ import annotations

import base64
import logging
import subprocess
from pathlib import Path

import pytest
from paramiko.message import Message

from conftest_sftp import *  # noqa: F401,F403  (fixtures)
from conftest_sftp import requires_sshd, sftp_env, sftp_settings
from runner.deliver import Upload
from runner.deliver.sftp.destination import SftpDestination
from runner.errors import HostKeyError
from sshd import SshServer, keygen
from workspace import Workspace

pytestmark = requires_sshd

HOSTKEYS_LOG = "runner.deliver.sftp.hostkeys"


@pytest.fixture(scope="module")
def two_keys(sshd_factory) -> SshServer:
    """A server offering an ed25519 and an RSA host key; paramiko asks for ed25519 unless told otherwise."""
    return sshd_factory(host_key_type="ed25519", extra_host_key_types=("rsa",))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A workspace with built marts: what `feeds check` checks before it reaches the destination."""
    workspace = Workspace(tmp_path_factory.mktemp("hostkeys") / "ws", orders=60, seed=7)
    result = workspace.feeds("build", "--config", str(workspace.config))
    assert result.returncode == 0, result.stdout + result.stderr
    return workspace


@pytest.fixture
def remote(two_keys: SshServer, tmp_path: Path) -> Path:
    path = two_keys.upload_dir / f"hk-{tmp_path.name}"
    path.mkdir()
    return path


def feeds_check(workspace: Workspace, server: SshServer, remote: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return workspace.feeds("check", "--config", str(workspace.config), env={**sftp_env(server, remote), **env})


def known_hosts(path: Path, *lines: str) -> Path:
    path.write_text("".join(line if line.endswith("\n") else line + "\n" for line in lines))
    return path


def host_key_line(check_lines: list[str]) -> str:
    return next(line for line in check_lines if line.startswith("host key:"))


# -- a pinned fingerprint --------------------------------------------------------------------------


def test_a_pinned_rsa_key_is_found_although_the_server_prefers_ed25519(two_keys, remote, tmp_path):
    rsa = two_keys.fingerprint_of("rsa")
    settings = sftp_settings(two_keys, remote, known_hosts=tmp_path / "none", host_key=rsa)
    local = tmp_path / "feed.csv"
    local.write_text("Email\na@example.com\n")
    destination = SftpDestination(settings)
    with destination:
        assert destination.connection_attempts == 2  # ed25519 first (not the pin), then RSA
        destination.deliver_one(Upload(local, "feed.csv"))
        line = host_key_line(destination.check())
    assert line.startswith(f"host key: ssh-rsa {rsa}") and "pinned" in line
    assert (remote / "feed.csv").read_text() == local.read_text()
    with destination:  # the key type that matched is asked for first from then on
        assert destination.connection_attempts == 3


def test_feeds_check_accepts_a_pin_of_either_key_and_a_padded_pin(built, two_keys, remote, tmp_path):
    nowhere = str(tmp_path / "no_known_hosts")
    rsa, ed25519 = two_keys.fingerprint_of("rsa"), two_keys.fingerprint_of("ed25519")
    for pin in (rsa, rsa + "=", ed25519):
        result = feeds_check(built, two_keys, remote, FEEDS_SFTP_HOST_KEY=pin, FEEDS_SFTP_KNOWN_HOSTS=nowhere)
        assert result.returncode == 0, f"pin {pin}: {result.stdout}{result.stderr}"
        assert f"{pin.rstrip('=')} (matches the pinned fingerprint" in result.stdout


def test_a_pin_matching_none_of_the_servers_keys_is_a_mismatch(built, two_keys, remote, tmp_path):
    wrong = "SHA256:" + "A" * 43
    result = feeds_check(built, two_keys, remote, FEEDS_SFTP_HOST_KEY=wrong,
                         FEEDS_SFTP_KNOWN_HOSTS=str(tmp_path / "no_known_hosts"))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "HOST KEY MISMATCH" in result.stderr and "impostor" in result.stderr
    # Every key the server holds was asked for, and each is named.
    assert two_keys.fingerprint_of("rsa") in result.stderr and two_keys.fingerprint_of("ed25519") in result.stderr
    assert "Traceback" not in result.stderr
    # One handshake per key the server holds, none that cannot agree, and never retried.
    settings = sftp_settings(two_keys, remote, known_hosts=tmp_path / "none", host_key=wrong, retries=3)
    destination = SftpDestination(settings)
    with pytest.raises(HostKeyError, match="MISMATCH"):
        destination.open()
    assert destination.connection_attempts == 2


@pytest.mark.parametrize("pin", ["SHA256:abc", "SHA256:" + "A" * 42 + "*", "MD5:" + ":".join(["ab"] * 16)])
def test_a_malformed_pin_is_a_configuration_error(built, two_keys, remote, pin):
    result = feeds_check(built, two_keys, remote, FEEDS_SFTP_HOST_KEY=pin)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "host_key" in result.stderr and "SHA256" in result.stderr
    assert "MISMATCH" not in result.stderr and "Traceback" not in result.stderr


# -- known_hosts -----------------------------------------------------------------------------------


def test_an_rsa_only_known_hosts_entry_negotiates_rsa(two_keys, remote, tmp_path):
    known = known_hosts(tmp_path / "known_hosts", two_keys.known_hosts_line("rsa"))
    with SftpDestination(sftp_settings(two_keys, remote, known_hosts=known)) as destination:
        line = host_key_line(destination.check())
        assert destination.connection_attempts == 1
    assert line.startswith(f"host key: ssh-rsa {two_keys.fingerprint_of('rsa')}")


def test_cert_authority_lines_do_not_break_plain_host_keys(two_keys, remote, tmp_path, caplog):
    ca = keygen(tmp_path / "ca").with_suffix(".pub").read_text().split()[:2]
    known = known_hosts(
        tmp_path / "known_hosts",
        f"@cert-authority *.example.com,127.0.0.1 {ca[0]} {ca[1]}",
        f"@cert-authority [127.0.0.1]:{two_keys.port} {ca[0]} {ca[1]} our CA",
        two_keys.known_hosts_line("ed25519"),
    )
    caplog.set_level(logging.DEBUG, logger=HOSTKEYS_LOG)
    with SftpDestination(sftp_settings(two_keys, remote, known_hosts=known)) as destination:
        line = host_key_line(destination.check())
    assert line.startswith(f"host key: ssh-ed25519 {two_keys.fingerprint_of('ed25519')}")
    assert any("cert-authority" in r.getMessage() and "not supported" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_revoked_key_is_refused_and_not_retried(built, two_keys, remote, tmp_path):
    algo, blob = two_keys.known_hosts_line("ed25519").split()[1:3]
    known = known_hosts(tmp_path / "known_hosts", f"@revoked [127.0.0.1]:{two_keys.port} {algo} {blob}")
    result = feeds_check(built, two_keys, remote, FEEDS_SFTP_KNOWN_HOSTS=str(known))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "REVOKED" in result.stderr and f"{known} line 1" in result.stderr
    assert two_keys.fingerprint_of("ed25519") in result.stderr and "Traceback" not in result.stderr
    # A revoked key stays refused when the same key is also listed as valid, and for a `*` pattern.
    known_hosts(known, "@revoked * " + f"{algo} {blob}", two_keys.known_hosts_line("ed25519"))
    destination = SftpDestination(sftp_settings(two_keys, remote, known_hosts=known, retries=3, backoff=1.0))
    with pytest.raises(HostKeyError, match="REVOKED.*line 1"):
        destination.open()
    assert destination.connection_attempts == 1


def test_a_revoked_key_leaves_the_servers_other_recorded_key_usable(two_keys, remote, tmp_path):
    algo, blob = two_keys.known_hosts_line("ed25519").split()[1:3]
    known = known_hosts(tmp_path / "known_hosts", f"@revoked * {algo} {blob}", two_keys.known_hosts_line("rsa"))
    with SftpDestination(sftp_settings(two_keys, remote, known_hosts=known)) as destination:
        assert host_key_line(destination.check()).startswith("host key: ssh-rsa")


def test_unreadable_lines_are_skipped_with_a_warning_naming_file_and_line(two_keys, remote, tmp_path, caplog):
    hashed = known_hosts(tmp_path / "hashed", two_keys.known_hosts_line("ed25519"))
    blob = Message()
    for part in (b"sk-ssh-ed25519@openssh.com", bytes(32), b"ssh:"):
        blob.add_string(part)
    security_key = base64.b64encode(blob.asbytes()).decode()
    subprocess.run(["ssh-keygen", "-H", "-f", str(hashed)], check=True, capture_output=True)
    known = known_hosts(
        tmp_path / "known_hosts",
        "# a comment, then a key whose base64 was cut short",
        f"[127.0.0.1]:{two_keys.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI",
        "just some words",
        "@bogus-marker example.com ssh-ed25519 AAAA",
        f"[127.0.0.1]:{two_keys.port} sk-ssh-ed25519@openssh.com {security_key}",  # sound, unsupported: no warning
        hashed.read_text().strip(),
    )
    caplog.set_level(logging.WARNING, logger=HOSTKEYS_LOG)
    with SftpDestination(sftp_settings(two_keys, remote, known_hosts=known)) as destination:
        line = host_key_line(destination.check())
    assert line.startswith(f"host key: ssh-ed25519 {two_keys.fingerprint_of('ed25519')}")
    warned = sorted(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert [w.split(" ignored:")[0] for w in warned] == [f"{known} line {n}" for n in (2, 3, 4)]


def test_any_recorded_key_of_the_type_is_accepted(two_keys, remote, tmp_path):
    # OpenSSH accepts a key that any line for the host records, not only the first of its type.
    old = keygen(tmp_path / "old_host_key").with_suffix(".pub").read_text().split()[:2]
    known = known_hosts(
        tmp_path / "known_hosts", f"[127.0.0.1]:{two_keys.port} {old[0]} {old[1]}", two_keys.known_hosts_line("ed25519")
    )
    with SftpDestination(sftp_settings(two_keys, remote, known_hosts=known)) as destination:
        assert "matches" in host_key_line(destination.check())


def test_host_patterns_and_negation_are_read_as_openssh_does(two_keys, remote, tmp_path):
    algo, blob = two_keys.known_hosts_line("ed25519").split()[1:3]
    matching = known_hosts(tmp_path / "matching", f"other.example,[127.0.0.?]:{two_keys.port} {algo} {blob}")
    with SftpDestination(sftp_settings(two_keys, remote, known_hosts=matching)) as destination:
        assert "matches" in host_key_line(destination.check())
    negated = known_hosts(tmp_path / "negated", f"[127.0.0.*]:*,![127.0.0.1]:{two_keys.port} {algo} {blob}")
    with pytest.raises(HostKeyError, match="unknown host key"):
        SftpDestination(sftp_settings(two_keys, remote, known_hosts=negated)).open()
