"""SFTP delivery against a real OpenSSH sshd on 127.0.0.1: host keys, auth, atomic rename, resume."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest_sftp import *  # noqa: F401,F403  (fixtures)
from conftest_sftp import requires_sshd, sftp_settings
from runner.deliver import Upload
from runner.deliver.sftp.destination import SftpDestination
from runner.deliver.sftp.session import server_fingerprint
from runner.errors import AuthenticationError, DeliveryError, HostKeyError, TransientDeliveryError
from sshd import keygen, make_password_user, password_user_reason, public_key_fingerprint

pytestmark = requires_sshd


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_file(path: Path, size: int, seed: int = 0) -> Path:
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB, distinct per seed
    with open(path, "wb") as out:
        left = size
        while left:
            left -= out.write(block[: min(left, len(block))])
    return path


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def connections_logged(server) -> int:
    return server.log.read_text().count("Connection from 127.0.0.1")


# -- delivery ---------------------------------------------------------------------------------


def test_key_auth_delivers_identical_files_and_leaves_no_temporary(sshd, remote_dir, tmp_path):
    files = [make_file(tmp_path / f"feed{i}.csv", size, seed=i) for i, size in enumerate((0, 1, 300_000, 3_000_001))]
    with SftpDestination(sftp_settings(sshd, remote_dir)) as destination:
        for local in files:
            delivered = destination.deliver_one(Upload(local, local.name))
            assert delivered.remote_path == f"{remote_dir}/{local.name}"
            assert delivered.sha256 == sha256(local)  # hashed from the bytes as they were sent
    assert listing(remote_dir) == sorted(f.name for f in files)
    for local in files:
        assert sha256(remote_dir / local.name) == sha256(local)


def test_deliver_all_uploads_concurrently_over_several_connections(sshd, remote_dir, tmp_path):
    files = [make_file(tmp_path / f"f{i}.csv", 6_000_000 + i, seed=i) for i in range(4)]
    seen_threads: set[str] = set()

    def progress(path, sent, total):
        seen_threads.add(threading.current_thread().name)

    with SftpDestination(sftp_settings(sshd, remote_dir, concurrency=4)) as destination:
        results = destination.deliver_all([Upload(f, f.name) for f in files], progress)
        assert destination.connection_attempts > 1
    assert [r.status for r in results] == ["delivered"] * 4
    assert [r.remote_path for r in results] == [f"{remote_dir}/{f.name}" for f in files]
    assert len(seen_threads) > 1
    assert listing(remote_dir) == sorted(f.name for f in files)
    assert all(sha256(remote_dir / f.name) == sha256(f) for f in files)


def test_existing_final_file_is_replaced_atomically(sshd, remote_dir, tmp_path):
    (remote_dir / "orders.csv").write_text("old\n")
    local = make_file(tmp_path / "orders.csv", 100_000, seed=7)
    with SftpDestination(sftp_settings(sshd, remote_dir)) as destination:
        destination.deliver_one(Upload(local, "orders.csv"))
    assert sha256(remote_dir / "orders.csv") == sha256(local)
    assert listing(remote_dir) == ["orders.csv"]
    with SftpDestination(sftp_settings(sshd, remote_dir)) as destination:
        assert destination.exists("orders.csv")
        assert not destination.exists("customers.csv")


def test_stale_temporary_file_of_an_earlier_run_is_removed(sshd, remote_dir, tmp_path):
    (remote_dir / ".orders.csv.part").write_bytes(b"x" * 5000)
    (remote_dir / ".orders.csv.old").write_bytes(b"y")
    local = make_file(tmp_path / "orders.csv", 1000, seed=3)
    with SftpDestination(sftp_settings(sshd, remote_dir)) as destination:
        destination.deliver_one(Upload(local, "orders.csv"))
    assert listing(remote_dir) == ["orders.csv"]
    assert sha256(remote_dir / "orders.csv") == sha256(local)


def test_check_shows_fingerprint_and_leaves_nothing(sshd, remote_dir):
    with SftpDestination(sftp_settings(sshd, remote_dir)) as destination:
        lines = destination.check()
    text = "\n".join(lines)
    assert sshd.fingerprint in text
    assert "writable" in text and "posix-rename" in text
    assert listing(remote_dir) == []
    assert server_fingerprint("127.0.0.1", sshd.port, 5) == sshd.fingerprint


def test_describe_has_no_secret(sshd, remote_dir):
    destination = SftpDestination(sftp_settings(sshd, remote_dir, password="hunter2-secret"))
    assert "hunter2-secret" not in destination.describe()
    assert "hunter2-secret" not in repr(destination.settings)


# -- remote directory ------------------------------------------------------------------------


def test_missing_remote_dir_is_an_error_without_create_dirs(sshd, remote_dir, tmp_path):
    missing = remote_dir / "a" / "b"
    with pytest.raises(DeliveryError, match="does not exist.*create_dirs") as info:
        SftpDestination(sftp_settings(sshd, missing, retries=3)).open()
    assert not info.value.transient
    assert not (remote_dir / "a").exists()


def test_missing_remote_dir_is_created_with_create_dirs(sshd, remote_dir, tmp_path):
    missing = remote_dir / "a" / "b"
    local = make_file(tmp_path / "x.csv", 10_000)
    with SftpDestination(sftp_settings(sshd, missing, create_dirs=True)) as destination:
        destination.deliver_one(Upload(local, "x.csv"))
    assert sha256(missing / "x.csv") == sha256(local)


def test_read_only_server_gives_clear_error_and_leaves_nothing(sshd_factory, tmp_path):
    server = sshd_factory(sftp_flags=["-R"])
    local = make_file(tmp_path / "x.csv", 10_000)
    started = time.monotonic()
    with SftpDestination(sftp_settings(server, retries=3, backoff=1.0)) as destination:
        with pytest.raises(DeliveryError, match="permission denied") as info:
            destination.deliver_one(Upload(local, "x.csv"))
    assert not info.value.transient
    assert time.monotonic() - started < 5  # not retried
    assert listing(server.upload_dir) == []


# -- rename without posix-rename@openssh.com ----------------------------------------------------


@pytest.fixture(scope="module")
def sshd_without_posix_rename(sshd_factory):
    # `-P` takes sftp-server request names (sftp-server -Q requests); the extension is then not offered.
    return sshd_factory(sftp_flags=["-P", "posix-rename"])


def test_fallback_rename_delivers_and_replaces(sshd_without_posix_rename, tmp_path):
    server = sshd_without_posix_rename
    first = make_file(tmp_path / "first.csv", 200_000, seed=1)
    second = make_file(tmp_path / "second.csv", 150_000, seed=2)
    with SftpDestination(sftp_settings(server)) as destination:
        assert any("fallback" in line for line in destination.check())
        destination.deliver_one(Upload(first, "feed.csv"))
        assert sha256(server.upload_dir / "feed.csv") == sha256(first)
        destination.deliver_one(Upload(second, "feed.csv"))
    assert sha256(server.upload_dir / "feed.csv") == sha256(second)
    assert listing(server.upload_dir) == ["feed.csv"]
    (server.upload_dir / "feed.csv").unlink()


@pytest.mark.parametrize("posix_rename", [True, False])
def test_replace_existing_false_keeps_the_old_file(sshd, sshd_without_posix_rename, tmp_path, posix_rename):
    server = sshd if posix_rename else sshd_without_posix_rename
    target = server.upload_dir / "keep"
    target.mkdir()
    (target / "feed.csv").write_text("old\n")
    local = make_file(tmp_path / "new.csv", 5000)
    with SftpDestination(sftp_settings(server, target, replace_existing=False)) as destination:
        with pytest.raises(DeliveryError, match="already exists.*replace_existing"):
            destination.deliver_one(Upload(local, "feed.csv"))
    assert (target / "feed.csv").read_text() == "old\n"
    assert listing(target) == ["feed.csv"]


# -- host keys -------------------------------------------------------------------------------------


def test_unknown_host_key_is_refused_showing_the_fingerprint(sshd, remote_dir, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError) as info:
        SftpDestination(sftp_settings(sshd, remote_dir, known_hosts=empty)).open()
    message = str(info.value)
    assert "unknown host key" in message
    assert sshd.fingerprint in message
    assert f"FEEDS_SFTP_HOST_KEY={sshd.fingerprint}" in message and "known_hosts" in message


def test_missing_known_hosts_file_is_refused(sshd, remote_dir, tmp_path):
    with pytest.raises(HostKeyError, match="does not exist"):
        SftpDestination(sftp_settings(sshd, remote_dir, known_hosts=tmp_path / "nope")).open()


def test_changed_host_key_is_refused_loudly(sshd, remote_dir, tmp_path):
    other = keygen(tmp_path / "other_host_key")
    algo, blob = other.with_suffix(".pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {algo} {blob}\n")
    with pytest.raises(HostKeyError) as info:
        SftpDestination(sftp_settings(sshd, remote_dir, known_hosts=known, retries=3, backoff=1.0)).open()
    message = str(info.value)
    assert "HOST KEY MISMATCH" in message
    assert sshd.fingerprint in message and public_key_fingerprint(other.with_suffix(".pub")) in message


def test_hashed_known_hosts_entry_is_accepted(sshd, remote_dir, tmp_path):
    known = sshd.write_known_hosts(tmp_path / "known_hosts")
    subprocess.run(["ssh-keygen", "-H", "-f", str(known)], check=True, capture_output=True)
    assert "|1|" in known.read_text()
    with SftpDestination(sftp_settings(sshd, remote_dir, known_hosts=known)) as destination:
        assert any(sshd.fingerprint in line for line in destination.check())


def test_pinned_fingerprint_is_accepted_and_a_wrong_pin_refused(sshd, remote_dir, tmp_path):
    nowhere = tmp_path / "no_known_hosts"
    with SftpDestination(sftp_settings(sshd, remote_dir, known_hosts=nowhere, host_key=sshd.fingerprint)) as ok:
        assert any("pinned" in line for line in ok.check())
    wrong = "SHA256:" + "A" * 43
    with pytest.raises(HostKeyError, match="MISMATCH") as info:
        SftpDestination(sftp_settings(sshd, remote_dir, known_hosts=nowhere, host_key=wrong)).open()
    assert sshd.fingerprint in str(info.value)


# -- authentication --------------------------------------------------------------------------------


def test_wrong_key_is_refused_once_without_retries(sshd, remote_dir, tmp_path):
    stranger = keygen(tmp_path / "stranger")
    before = connections_logged(sshd)
    destination = SftpDestination(sftp_settings(sshd, remote_dir, key_file=stranger, retries=4, backoff=1.0))
    started = time.monotonic()
    with pytest.raises(AuthenticationError, match="authentication failed") as info:
        destination.open()
    assert time.monotonic() - started < 5
    assert not info.value.transient
    assert destination.connection_attempts == 1
    time.sleep(0.2)  # let sshd flush its log
    assert connections_logged(sshd) - before == 1


def test_key_with_passphrase(sshd, remote_dir, tmp_path):
    secret = "correct horse battery"
    key = keygen(tmp_path / "protected", passphrase=secret)
    with open(sshd.authorized_keys, "a") as keys:
        keys.write(key.with_suffix(".pub").read_text())
    local = make_file(tmp_path / "x.csv", 1234)
    with SftpDestination(sftp_settings(sshd, remote_dir, key_file=key, key_passphrase=secret)) as destination:
        destination.deliver_one(Upload(local, "x.csv"))
    assert sha256(remote_dir / "x.csv") == sha256(local)

    with pytest.raises(AuthenticationError, match="FEEDS_SFTP_KEY_PASSPHRASE"):
        SftpDestination(sftp_settings(sshd, remote_dir, key_file=key)).open()
    with pytest.raises(AuthenticationError, match="passphrase is wrong") as info:
        SftpDestination(sftp_settings(sshd, remote_dir, key_file=key, key_passphrase="not it")).open()
    assert "not it" not in str(info.value)


@pytest.mark.skipif(shutil.which("ssh-agent") is None, reason="ssh-agent is not installed")
def test_ssh_agent_auth(sshd, remote_dir, tmp_path, monkeypatch):
    socket_path = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if socket_path.exists():
                break
            time.sleep(0.05)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
        subprocess.run(["ssh-add", str(sshd.client_key)], check=True, capture_output=True)
        local = make_file(tmp_path / "x.csv", 4321)
        with SftpDestination(sftp_settings(sshd, remote_dir, key_file=None, use_agent=True)) as destination:
            destination.deliver_one(Upload(local, "x.csv"))
        assert sha256(remote_dir / "x.csv") == sha256(local)
    finally:
        agent.terminate()
        agent.wait(timeout=5)


def test_no_credentials_is_a_clear_error(sshd, remote_dir, monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(AuthenticationError, match="no credentials.*FEEDS_SFTP_KEY_FILE"):
        SftpDestination(sftp_settings(sshd, remote_dir, key_file=None, use_agent=True)).open()


@pytest.mark.skipif(password_user_reason() is not None, reason=password_user_reason() or "")
def test_password_auth_with_a_throwaway_user(sshd_factory, tmp_path):
    password = "Pw-for-feeds-test-1"
    home = tmp_path / "home"
    # pytest's temporary directories are private to root, so the user's directory lives elsewhere.
    target = Path(tempfile.mkdtemp(prefix="feeds-sftp-pw-"))
    with make_password_user("feedsftptest", password, home) as user:
        server = sshd_factory(password_users=["feedsftptest"], user="feedsftptest")
        os.chmod(target, 0o755)
        os.chown(target, user.pw_uid, user.pw_gid)
        local = make_file(tmp_path / "x.csv", 50_000)
        settings = sftp_settings(server, target, key_file=None, password=password)
        with SftpDestination(settings) as destination:
            destination.deliver_one(Upload(local, "x.csv"))
        assert sha256(target / "x.csv") == sha256(local)
        assert (target / "x.csv").stat().st_uid == user.pw_uid

        wrong = sftp_settings(server, target, key_file=None, password="wrong-password-123")
        with pytest.raises(AuthenticationError) as info:
            SftpDestination(wrong).open()
        assert "wrong-password-123" not in str(info.value)
    shutil.rmtree(target)


# -- connection failures, retries and resume --------------------------------------------------------


def test_refused_connection_is_transient_and_retried(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    settings = sftp_settings_for_port(port, tmp_path, retries=2)
    destination = SftpDestination(settings)
    with pytest.raises(TransientDeliveryError, match="refused.*gave up after 3 attempts"):
        destination.open()
    assert destination.connection_attempts == 3


def test_silent_server_times_out(tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (kernel backlog) but never speaks
    try:
        settings = sftp_settings_for_port(listener.getsockname()[1], tmp_path, retries=1, connect_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(TransientDeliveryError, match="gave up after 2 attempts"):
            SftpDestination(settings).open()
        assert time.monotonic() - started < 5
    finally:
        listener.close()


def sftp_settings_for_port(port: int, tmp_path: Path, **overrides):
    from runner.deliver.sftp.settings import SftpDestinationSettings

    values = dict(host="127.0.0.1", port=port, username="nobody", password="x", use_agent=False,
                  known_hosts=tmp_path / "kh", backoff=0.0, connect_timeout=5.0)
    values.update(overrides)
    return SftpDestinationSettings(**values)


def test_cut_connection_resumes_and_sends_less_than_the_whole_file(sshd, remote_dir, tmp_path, cutting_proxy):
    size = 12 * 1024 * 1024
    local = make_file(tmp_path / "big.csv", size, seed=11)
    proxy = cutting_proxy(sshd.port, cuts={0: 7 * 1024 * 1024})
    settings = sftp_settings(sshd, remote_dir, port=proxy.port, host_key=sshd.fingerprint, retries=3)
    with SftpDestination(settings) as destination:
        delivered = destination.deliver_one(Upload(local, "big.csv"))
        assert destination.connection_attempts == 2
    # The hash covers the whole file: the part before the resume point is hashed from disk.
    assert delivered.sha256 == sha256(local)
    assert proxy.sent[0] == 7 * 1024 * 1024
    # The second connection carried the rest of the file (plus SSH overhead), not all of it again.
    assert proxy.sent[1] < size * 0.6
    assert sha256(remote_dir / "big.csv") == sha256(local)
    assert listing(remote_dir) == ["big.csv"]


def test_stalled_connection_times_out_and_resumes(sshd, remote_dir, tmp_path, cutting_proxy):
    size = 6 * 1024 * 1024
    local = make_file(tmp_path / "big.csv", size, seed=5)
    proxy = cutting_proxy(sshd.port, stalls={0: 3 * 1024 * 1024})
    settings = sftp_settings(sshd, remote_dir, port=proxy.port, host_key=sshd.fingerprint, retries=2,
                             operation_timeout=1.0)
    started = time.monotonic()
    with SftpDestination(settings) as destination:
        destination.deliver_one(Upload(local, "big.csv"))
        assert destination.connection_attempts == 2
    assert time.monotonic() - started < 15
    assert proxy.sent[1] < size * 0.75
    assert sha256(remote_dir / "big.csv") == sha256(local)
    assert listing(remote_dir) == ["big.csv"]


def test_final_name_never_holds_a_partial_file(sshd, remote_dir, tmp_path, cutting_proxy):
    size = 2 * 1024 * 1024
    old = make_file(tmp_path / "old.csv", size - 1000, seed=1)
    new = make_file(tmp_path / "new.csv", size, seed=2)
    final = remote_dir / "feed.csv"
    final.write_bytes(old.read_bytes())
    valid = {sha256(old), sha256(new)}
    # Cut points from the SSH handshake to past the end of the upload (the rename).
    cuts = [200, 3_000, 40_000, 300_000, 1_000_000, 1_600_000, 2_000_000, 2_080_000, 2_090_000, 2_100_000,
            2_110_000, 2_120_000, 2_200_000]
    outcomes = []
    for cut in cuts:
        proxy = cutting_proxy(sshd.port, cuts={0: cut})
        settings = sftp_settings(sshd, remote_dir, port=proxy.port, host_key=sshd.fingerprint, retries=0,
                                 operation_timeout=5.0)
        destination = SftpDestination(settings)
        try:
            with destination:
                destination.deliver_one(Upload(new, "feed.csv"))
            outcomes.append("delivered")
        except TransientDeliveryError:
            outcomes.append("failed")
        assert sha256(final) in valid, f"partial file under the final name after a cut at {cut} bytes"
        # A failed delivery removed its temporary file over a new connection.
        assert listing(remote_dir) == ["feed.csv"], f"left behind after a cut at {cut} bytes"
        final.write_bytes(old.read_bytes())
    assert "failed" in outcomes and "delivered" in outcomes
    # The failed attempts cleaned up after themselves (or the next one did).
    with SftpDestination(sftp_settings(sshd, remote_dir)) as destination:
        destination.deliver_one(Upload(new, "feed.csv"))
    assert listing(remote_dir) == ["feed.csv"]
    assert sha256(final) == sha256(new)
