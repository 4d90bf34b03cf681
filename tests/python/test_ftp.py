"""Destination `ftp` against a real FTP/FTPS server (pyftpdlib in its own process, tests/python/ftpd.py):
TLS session reuse required on data connections, a server that refuses a rename onto an existing file,
a wrong certificate, a wrong password, plain FTP, cuts on the control and the data connections, and
the configuration (both hosts set, bad values, the password only from the environment).
"""

from __future__ import annotations

import ftplib
import itertools
import logging
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from conftest_sftp import CuttingProxy
from ftpd import PASSWORD, USER, FtpServer
from runner.config import load_settings
from runner.deliver import Upload
from runner.deliver.ftp.destination import FtpDestination
from runner.deliver.ftp.session import pasv_address
from runner.deliver.ftp.settings import FtpDestinationSettings
from runner.errors import AuthenticationError, CertificateError, ConfigError
from runner.faults import ENV, HOLD_ENV
from workspace import REPO, feeds_command

_names = itertools.count()


@pytest.fixture(scope="session")
def ftpd_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., FtpServer]]:
    servers: list[FtpServer] = []
    certificates = tmp_path_factory.mktemp("ftp-certificates")  # one test CA for every server

    def start(**options: object) -> FtpServer:
        server = FtpServer(tmp_path_factory.mktemp("ftpd"), certificates=certificates, **options).start()  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def reuse_ftpd(ftpd_factory: Callable[..., FtpServer]) -> FtpServer:
    """Explicit FTPS, TLS required on control and data, data connections must resume the TLS session."""
    return ftpd_factory(require_reuse=True)


@pytest.fixture(scope="session")
def no_replace_ftpd(ftpd_factory: Callable[..., FtpServer]) -> FtpServer:
    """Like reuse_ftpd, and RNTO onto an existing file is refused (550)."""
    return ftpd_factory(require_reuse=True, refuse_rename_over=True)


def fresh_dir(server: FtpServer) -> Path:
    path = server.root / f"t{next(_names)}"
    path.mkdir()
    return path


def settings_for(server: FtpServer, remote: Path, **overrides: object) -> FtpDestinationSettings:
    values: dict[str, object] = {
        "host": "127.0.0.1", "port": server.port, "username": USER, "password": PASSWORD,
        "ca_file": server.ca_file, "remote_dir": "/" + str(remote.relative_to(server.root)),
        "connect_timeout": 5.0, "operation_timeout": 10.0, "backoff": 0.0,
    }
    values.update(overrides)
    return FtpDestinationSettings(**values)


def feed_file(folder: Path, name: str = "Listrak_Order_Feed_20260101.csv", size: int = 3_000_000) -> Path:
    path = folder / name
    block = (b"OrderNumber,Email\n" + b"".join(b"%d,a%d@example.com\n" % (i, i) for i in range(5000)))
    with open(path, "wb") as out:
        left = size
        while left:
            left -= out.write(block[: min(left, len(block))])
    return path


# -- TLS session reuse -----------------------------------------------------------------------------------


def test_a_data_connection_that_does_not_resume_the_session_is_refused_by_the_reuse_server(
    reuse_ftpd: FtpServer, tmp_path: Path
) -> None:
    """The server variant is real: Python's stock FTP_TLS (new TLS session per data connection) fails."""
    remote = fresh_dir(reuse_ftpd)
    client = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=str(reuse_ftpd.ca_file)), timeout=10)
    client.connect("127.0.0.1", reuse_ftpd.port)
    client.login(USER, PASSWORD)
    client.prot_p()
    with pytest.raises((ftplib.Error, OSError)):
        with open(feed_file(tmp_path), "rb") as source:
            client.storbinary(f"STOR /{remote.name}/plain.csv", source)
    client.close()
    assert not (remote / "plain.csv").exists() or (remote / "plain.csv").stat().st_size == 0


def test_delivers_to_a_server_that_requires_tls_session_reuse(reuse_ftpd: FtpServer, tmp_path: Path) -> None:
    remote = fresh_dir(reuse_ftpd)
    local = feed_file(tmp_path)
    (remote / local.name).write_bytes(b"waiting\n")  # replaced in one step: this server renames onto a file
    with FtpDestination(settings_for(reuse_ftpd, remote)) as destination:
        lines = destination.check()
        delivered = destination.deliver_one(Upload(local, local.name))
        assert destination.exists(local.name) and not destination.exists("other.csv")
    assert sorted(path.name for path in remote.iterdir()) == [local.name]
    assert (remote / local.name).read_bytes() == local.read_bytes()
    import hashlib

    assert delivered.sha256 == hashlib.sha256(local.read_bytes()).hexdigest()
    text = "\n".join(lines)
    assert f"certificate: {reuse_ftpd.fingerprint}" in text
    assert "supports: MLST yes, SIZE yes, REST yes, EPSV yes" in text
    assert "rename onto an existing file: yes" in text
    assert "TLS session reuse on data connections: yes" in text


def test_implicit_tls_and_a_pinned_certificate(ftpd_factory: Callable[..., FtpServer], tmp_path: Path) -> None:
    server = ftpd_factory(tls="implicit", require_reuse=True)
    remote = fresh_dir(server)
    local = feed_file(tmp_path, size=200_000)
    settings = settings_for(server, remote, tls="implicit", ca_file=None,
                            cert_fingerprint=server.fingerprint.removeprefix("SHA256:").replace(":", "").lower())
    with FtpDestination(settings) as destination:
        assert any("matches the pinned fingerprint" in line for line in destination.check())
        destination.deliver_one(Upload(local, local.name))
    assert (remote / local.name).read_bytes() == local.read_bytes()


# -- a server that refuses a rename onto an existing file ------------------------------------------------


def test_a_server_refusing_rename_over_a_file_gets_the_waiting_file_replaced_via_aside(
    no_replace_ftpd: FtpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    remote = fresh_dir(no_replace_ftpd)
    local = feed_file(tmp_path, size=100_000)
    (remote / local.name).write_bytes(b"waiting\n")
    with caplog.at_level(logging.INFO, logger="runner.deliver.ftp"):
        with FtpDestination(settings_for(no_replace_ftpd, remote)) as destination:
            assert any("rename onto an existing file: refused" in line for line in destination.check())
            destination.deliver_one(Upload(local, local.name))
            (remote / local.name).write_bytes(b"waiting again\n")
            destination.deliver_one(Upload(local, local.name))
    assert sorted(path.name for path in remote.iterdir()) == [local.name]
    assert (remote / local.name).read_bytes() == local.read_bytes()
    assert sum(f"removed /{remote.name}/.{local.name}.old" in r.getMessage() for r in caplog.records) == 2


def test_a_server_without_size_and_mlst_is_read_with_list_and_nlst(
    ftpd_factory: Callable[..., FtpServer], tmp_path: Path
) -> None:
    server = ftpd_factory(require_reuse=True, refuse_rename_over=True, minimal=True)
    remote = fresh_dir(server)
    local = feed_file(tmp_path, size=100_000)
    (remote / local.name).write_bytes(b"waiting\n")
    (remote / f".{local.name}.part").write_bytes(b"an upload that did not finish\n")
    with FtpDestination(settings_for(server, remote)) as destination:
        assert any("supports: MLST no, SIZE no, REST yes" in line for line in destination.check())
        assert destination.leftovers(lambda name: name.startswith("Listrak_")) == [
            f".{local.name}.part: the next delivery removes it (an upload that did not finish)"]
        assert destination.exists(local.name) and not destination.exists("Listrak_Customer_20260101.csv")
        destination.tidy(lambda name: name.startswith("Listrak_"))
        destination.deliver_one(Upload(local, local.name))
    assert sorted(path.name for path in remote.iterdir()) == [local.name]
    assert (remote / local.name).read_bytes() == local.read_bytes()


# -- certificates, passwords, plain FTP ----------------------------------------------------------------------


def test_a_wrong_certificate_is_exit_3_with_the_fingerprint_it_showed(
    ftpd_factory: Callable[..., FtpServer], reuse_ftpd: FtpServer, tmp_path: Path
) -> None:
    wrong = ftpd_factory(certificate="wrong")
    remote = fresh_dir(wrong)
    config = tmp_path / "feeds.yml"
    config.write_text(f"project_dir: {REPO}\nduckdb_path: feeds.duckdb\nstate_dir: state\n", encoding="utf-8")
    for server, env in (
        (wrong, wrong.env(remote)),  # signed by no CA we trust
        (reuse_ftpd, reuse_ftpd.env(fresh_dir(reuse_ftpd), FEEDS_FTP_CERT_FINGERPRINT=wrong.fingerprint)),  # pin mismatch
    ):
        result = feeds_command("upload", "--config", str(config), str(feed_file(tmp_path, size=1000)), env=env)
        output = " ".join((result.stdout + result.stderr).split())
        assert result.returncode == 3, output
        assert server.fingerprint in output and "Traceback" not in output, (server.fingerprint, output[-600:])
        assert "FEEDS_FTP_CERT_FINGERPRINT" in output
    # Not retried: one connection (then one more, only to read the fingerprint for the message).
    destination = FtpDestination(settings_for(wrong, remote, retries=3))
    with pytest.raises(CertificateError, match="not trusted"):
        destination.open()
    assert destination.connection_attempts == 1
    assert list(remote.iterdir()) == []


def test_a_wrong_password_is_exit_3_not_retried_and_never_shown(reuse_ftpd: FtpServer, tmp_path: Path) -> None:
    remote = fresh_dir(reuse_ftpd)
    destination = FtpDestination(settings_for(reuse_ftpd, remote, password="not-the-password", retries=3))
    with pytest.raises(AuthenticationError, match=f"refused the log-in of {USER}"):
        destination.open()
    assert destination.connection_attempts == 1
    config = tmp_path / "feeds.yml"
    config.write_text(f"project_dir: {REPO}\nstate_dir: state\n", encoding="utf-8")
    result = feeds_command("upload", "--config", str(config), str(feed_file(tmp_path, size=1000)),
                           env=reuse_ftpd.env(remote, FEEDS_FTP_PASSWORD="not-the-password"))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "not-the-password" not in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_plain_ftp_only_when_asked_and_with_a_warning(
    ftpd_factory: Callable[..., FtpServer], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = ftpd_factory(tls="none")
    remote = fresh_dir(server)
    local = feed_file(tmp_path, size=50_000)
    with caplog.at_level(logging.WARNING, logger="runner.deliver.ftp"):
        with FtpDestination(settings_for(server, remote, tls="none")) as destination:
            destination.deliver_one(Upload(local, local.name))
    assert (remote / local.name).read_bytes() == local.read_bytes()
    assert any("travel in clear" in record.getMessage() for record in caplog.records)
    # Left at the default (explicit TLS), the same server is refused rather than used in clear.
    with pytest.raises(Exception) as raised:
        with FtpDestination(settings_for(server, remote, retries=0)):
            pass
    assert "AUTH" in str(raised.value) or "TLS" in str(raised.value)


def test_a_private_pasv_address_from_a_public_server_falls_back_to_the_control_address() -> None:
    assert pasv_address("10.0.0.5", "93.184.215.14") == "93.184.215.14"
    assert pasv_address("0.0.0.0", "93.184.215.14") == "93.184.215.14"
    assert pasv_address("8.8.4.4", "93.184.215.14") == "8.8.4.4"
    assert pasv_address("192.168.1.2", "192.168.1.3") == "192.168.1.2"  # a server on the same private network


# -- cuts on the control and data connections --------------------------------------------------------------


class Proxies:
    """Cutting proxies in front of the control connection and of each passive data port, cut together."""

    def __init__(self, control: CuttingProxy, data: list[CuttingProxy]) -> None:
        self.control, self.data = control, data
        self._refusing = False

    @property
    def all(self) -> list[CuttingProxy]:
        return [self.control, *self.data]

    @property
    def refusing(self) -> bool:
        return self._refusing

    @refusing.setter
    def refusing(self, value: bool) -> None:
        self._refusing = value
        for proxy in self.all:
            proxy.refusing = value

    def cut_all(self) -> None:
        for proxy in self.all:
            proxy.cut_all()

    def mute_all(self) -> None:
        for proxy in self.all:
            proxy.mute_all()

    def data_connections(self) -> int:
        return sum(len(proxy.sent) for proxy in self.data)

    def close(self) -> None:
        for proxy in self.all:
            proxy.close()


def free_ports(count: int) -> list[int]:
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def proxied_ftpd(ftpd_factory: Callable[..., FtpServer], data_cuts: dict[int, int] | None = None,
                 **options: object) -> tuple[FtpServer, Proxies]:
    """A server whose passive replies name the data proxies' ports, and the proxies."""
    passive = free_ports(4)
    data = [CuttingProxy(port, cuts=data_cuts) for port in passive]
    server = ftpd_factory(advertise={port: proxy.port for port, proxy in zip(passive, data)}, **options)
    return server, Proxies(CuttingProxy(server.port), data)


@pytest.fixture
def cut_ftpd(ftpd_factory: Callable[..., FtpServer]) -> Iterator[tuple[FtpServer, Proxies]]:
    server, proxies = proxied_ftpd(ftpd_factory, require_reuse=True)
    yield server, proxies
    proxies.close()


def test_an_upload_cut_on_control_and_data_resumes_with_rest(
    cut_ftpd: tuple[FtpServer, Proxies], tmp_path: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, proxies = cut_ftpd
    remote = fresh_dir(server)
    local = feed_file(tmp_path, size=6_000_000)
    hold = tmp_path / "hold"
    hold.mkdir()
    monkeypatch.setenv(ENV, "upload")
    monkeypatch.setenv(HOLD_ENV, str(hold))
    part = remote / f".{local.name}.part"

    def cut_once_the_server_has_bytes() -> None:
        # Held after the first block is sent: cut control and data once some of it is on the server's
        # disk, so the next attempt has something to resume from.
        deadline = time.monotonic() + 20
        while not (hold / "upload").exists() or not part.exists() or part.stat().st_size == 0:
            assert time.monotonic() < deadline, "the upload never reached the server"
            time.sleep(0.01)
        proxies.cut_all()
        (hold / "upload.done").touch()

    cutter = threading.Thread(target=cut_once_the_server_has_bytes, daemon=True)
    cutter.start()
    with caplog.at_level(logging.INFO, logger="runner.deliver"):
        with FtpDestination(settings_for(server, remote, port=proxies.control.port, retries=2)) as destination:
            destination.deliver_one(Upload(local, local.name))
            attempts = destination.connection_attempts
    cutter.join(timeout=5)
    assert (hold / "upload.done").exists()
    assert attempts == 2
    assert sorted(path.name for path in remote.iterdir()) == [local.name]
    assert (remote / local.name).read_bytes() == local.read_bytes()
    resumed = [r.getMessage() for r in caplog.records if "resuming" in r.getMessage()]
    assert resumed and f"of {local.stat().st_size}" in resumed[0], resumed
    assert proxies.data_connections() == 2


def test_a_data_connection_cut_mid_file_is_resumed(
    ftpd_factory: Callable[..., FtpServer], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server, proxies = proxied_ftpd(ftpd_factory, data_cuts={0: 2_500_000}, require_reuse=True)
    try:
        remote = fresh_dir(server)
        local = feed_file(tmp_path, size=4_000_000)
        with caplog.at_level(logging.INFO, logger="runner.deliver"):
            with FtpDestination(settings_for(server, remote, port=proxies.control.port, retries=6)) as destination:
                destination.deliver_one(Upload(local, local.name))
        assert (remote / local.name).read_bytes() == local.read_bytes()
        assert [path.name for path in remote.iterdir()] == [local.name]
        assert any("resuming" in r.getMessage() for r in caplog.records)
    finally:
        proxies.close()


def test_a_server_without_epsv_is_used_in_pasv_mode(ftpd_factory: Callable[..., FtpServer], tmp_path: Path) -> None:
    server, proxies = proxied_ftpd(ftpd_factory, require_reuse=True, no_epsv=True)
    try:
        remote = fresh_dir(server)
        local = feed_file(tmp_path, size=300_000)
        with FtpDestination(settings_for(server, remote, port=proxies.control.port)) as destination:
            destination.deliver_one(Upload(local, local.name))
            destination.deliver_one(Upload(local, "second.csv"))
        assert (remote / local.name).read_bytes() == local.read_bytes() == (remote / "second.csv").read_bytes()
        assert proxies.data_connections() == 2, "both data connections went where the PASV replies said"
    finally:
        proxies.close()


# -- configuration ----------------------------------------------------------------------------------------------


def test_ftp_settings_from_the_environment_and_the_file(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yml"
    config.write_text("destination:\n  type: ftp\n  host: ftp.example.com\n  username: feeds\n  tls: implicit\n")
    settings = load_settings(config, environ={"FEEDS_FTP_PASSWORD": "pw"}).destination
    assert isinstance(settings, FtpDestinationSettings)
    assert (settings.effective_port, settings.password, settings.tls) == (990, "pw", "implicit")
    settings = load_settings(None, environ={
        "FEEDS_FTP_HOST": "ftp.example.com", "FEEDS_FTP_USER": "u", "FEEDS_FTP_CERT_FINGERPRINT": "ab" * 32,
    }).destination
    assert (settings.type, settings.tls, settings.effective_port) == ("ftp", "explicit", 21)
    assert settings.cert_fingerprint == "SHA256:" + ":".join(["AB"] * 32)


@pytest.mark.parametrize(
    ("yaml_text", "env", "expected"),
    [
        ("", {"FEEDS_FTP_HOST": "ftp.example.com", "FEEDS_SFTP_HOST": "sftp.example.com"},
         "FEEDS_FTP_HOST and FEEDS_SFTP_HOST are both set"),
        ("", {"FEEDS_FTP_HOST": "h", "FEEDS_FTP_USER": "u", "FEEDS_FTP_TLS": "maybe"}, "destination.tls"),
        ("", {"FEEDS_FTP_HOST": "h", "FEEDS_FTP_USER": "u", "FEEDS_FTP_CERT_FINGERPRINT": "SHA256:abc"},
         "destination.cert_fingerprint"),
        ("destination:\n  type: ftp\n  host: h\n  username: u\n  password: hunter2\n", {},
         "set the environment variable FEEDS_FTP_PASSWORD instead"),
    ],
    ids=["both-hosts", "bad-tls", "bad-fingerprint", "password-in-file"],
)
def test_ftp_configuration_errors_are_exit_2(tmp_path: Path, yaml_text: str, env: dict[str, str], expected: str) -> None:
    config = tmp_path / "feeds.yml"
    config.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(config, environ=env)
    assert expected in str(raised.value)
    assert "hunter2" not in str(raised.value)
    result = feeds_command("check", "--no-destination", "--config", str(config), env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_fingerprint_in_an_error_message_is_printed_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    """rich turns `:cd:` into an emoji unless told not to; a fingerprint holds such pairs."""
    from runner.cli.handler import fail

    message = "the certificate of h:21 has fingerprint SHA256:9E:94:A3:74:6B:DD:CD:BC:D0; Not retried"
    assert fail(CertificateError(message)).exit_code == 3
    assert message in " ".join(capsys.readouterr().err.split())
