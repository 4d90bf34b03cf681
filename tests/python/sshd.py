"""A throwaway OpenSSH `sshd` on a free 127.0.0.1 port, for tests and benchmarks.

It generates its own host key and client keys, serves SFTP through `internal-sftp` (with optional
flags such as ``-P posix-rename`` (a request name, see `sftp-server -Q requests`) or ``-R``) and logs in the user running it by key.
When run as root it can also chroot the session and, with :func:`make_password_user`, accept a
password for a throwaway system user. Nothing outside its temporary directory is touched, except
``/run/sshd`` (created when missing and running as root; sshd refuses to start without it) and the
throwaway user, which its context manager removes.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
SSH_KEYGEN = shutil.which("ssh-keygen")


def sshd_missing_reason() -> str | None:
    """Why an sshd cannot be started here, or None when it can."""
    if SSHD is None:
        return "OpenSSH sshd is not installed (apt-get install openssh-server)"
    if SSH_KEYGEN is None:
        return "ssh-keygen is not installed (apt-get install openssh-client)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keygen(path: Path, key_type: str = "ed25519", passphrase: str = "", comment: str = "feeds-test") -> Path:
    """Create an OpenSSH key pair at ``path`` / ``path.pub`` and return ``path``."""
    if path.exists():
        path.unlink()
    args = [SSH_KEYGEN, "-q", "-t", key_type, "-N", passphrase, "-C", comment, "-f", str(path)]
    if key_type == "rsa":
        args[4:4] = ["-b", "3072"]
    subprocess.run(args, check=True, capture_output=True)
    return path


def public_key_fingerprint(pub_path: Path) -> str:
    """The ``SHA256:...`` fingerprint of an OpenSSH public key file, as `ssh-keygen -l` shows it."""
    blob = base64.b64decode(pub_path.read_text().split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@dataclass
class SshServer:
    """One sshd process. Use :meth:`start` / :meth:`stop`, or as a context manager."""

    workdir: Path
    sftp_flags: Sequence[str] = ()
    chroot: bool = False
    password_users: Sequence[str] = ()
    host_key_type: str = "ed25519"
    #: Further host keys the server also offers (e.g. ``("rsa",)``), as most real servers do.
    extra_host_key_types: Sequence[str] = ()
    extra_config: Sequence[str] = ()
    port: int = 0
    user: str = field(default_factory=getpass.getuser)
    process: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        self.etc = self.workdir / "etc"
        self.etc.mkdir(exist_ok=True)
        self.host_key = self.etc / f"ssh_host_{self.host_key_type}_key"
        if not self.host_key.exists():
            keygen(self.host_key, self.host_key_type, comment="feeds-test-host")
        self.host_keys = {self.host_key_type: self.host_key}
        for key_type in self.extra_host_key_types:
            path = self.etc / f"ssh_host_{key_type}_key"
            if not path.exists():
                keygen(path, key_type, comment="feeds-test-host")
            self.host_keys[key_type] = path
        self.client_key = self.etc / "id_ed25519"
        if not self.client_key.exists():
            keygen(self.client_key)
        self.authorized_keys = self.etc / "authorized_keys"
        if not self.authorized_keys.exists():
            self.authorized_keys.write_text(self.client_key.with_suffix(".pub").read_text())
        os.chmod(self.authorized_keys, 0o644)
        # The chroot must be owned by root and not writable by others; files go in a subdirectory.
        self.root = self.workdir / "root"
        self.root.mkdir(exist_ok=True)
        os.chmod(self.root, 0o755)
        self.upload_dir = self.root / "upload"
        self.upload_dir.mkdir(exist_ok=True)

    # -- what tests need to point a client at this server -----------------------------------

    @property
    def host_public_key(self) -> Path:
        return self.host_key.with_suffix(".pub")

    @property
    def fingerprint(self) -> str:
        return public_key_fingerprint(self.host_public_key)

    def fingerprint_of(self, key_type: str) -> str:
        """The fingerprint of this server's host key of ``key_type`` ("rsa", "ed25519", ...)."""
        return public_key_fingerprint(self.host_keys[key_type].with_suffix(".pub"))

    @property
    def remote_upload_dir(self) -> str:
        """The upload directory as the SFTP client sees it (inside the chroot when chrooted)."""
        return "/upload" if self.chroot else str(self.upload_dir)

    def local_path(self, remote: str) -> Path:
        """Where a remote path the client sees lives on this machine."""
        return self.root / remote.lstrip("/") if self.chroot else Path(remote)

    def known_hosts_line(self, key_type: str | None = None) -> str:
        """A known_hosts line for the main host key, or for its host key of ``key_type``."""
        public = self.host_keys[key_type].with_suffix(".pub") if key_type else self.host_public_key
        algo, blob = public.read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {algo} {blob}\n"

    def write_known_hosts(self, path: Path | None = None) -> Path:
        path = path or self.etc / "known_hosts"
        path.write_text(self.known_hosts_line())
        return path

    def regenerate_host_key(self) -> None:
        """Give the server a new host key (a 'changed host key'); restarts it if running."""
        running = self.process is not None
        if running:
            self.stop()
        keygen(self.host_key, self.host_key_type, comment="feeds-test-host")
        if running:
            self.start()

    # -- lifecycle -------------------------------------------------------------------------

    def _config(self) -> str:
        subsystem = " ".join(["internal-sftp", *self.sftp_flags])
        lines = [
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            *(f"HostKey {path}" for path in self.host_keys.values()),
            f"PidFile {self.workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "StrictModes no",
            "UsePAM no",
            "PubkeyAuthentication yes",
            f"PasswordAuthentication {'yes' if self.password_users else 'no'}",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin yes",
            "PermitEmptyPasswords no",
            "LogLevel VERBOSE",
            "MaxStartups 100:30:200",
            "MaxSessions 32",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "PrintMotd no",
            f"Subsystem sftp {subsystem}",
        ]
        if self.chroot:
            lines.append(f"ChrootDirectory {self.root}")
            lines.append(f"ForceCommand {subsystem}")
        lines.extend(self.extra_config)
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 10.0) -> "SshServer":
        if self.chroot and os.geteuid() != 0:
            raise RuntimeError("a chrooted sshd needs root")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        for _ in range(5):
            if not self.port:
                self.port = free_port()
            config = self.etc / "sshd_config"
            config.write_text(self._config())
            self.log = self.workdir / "sshd.log"
            log = open(self.log, "ab")
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            log.close()
            if self._wait_listening(timeout):
                return self
            self.stop()
            self.port = 0  # probably lost the port to another process: try another
        raise RuntimeError(f"sshd did not start; see {self.log}:\n{self.log.read_text()[-2000:]}")

    def _wait_listening(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.settimeout(2)
                    if sock.recv(4).startswith(b"SSH-"):
                        return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            # The process group: the listener and any session children it forked.
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> "SshServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the OpenSSH client, for benchmarks ---------------------------------------------------

    def sftp_command(self, batch_file: Path, extra: Sequence[str] = ()) -> list[str]:
        """An OpenSSH `sftp -b` command line that logs in to this server with the test key."""
        known_hosts = self.write_known_hosts(self.etc / "known_hosts_openssh")
        return [
            shutil.which("sftp") or "sftp",
            "-b", str(batch_file),
            "-P", str(self.port),
            "-i", str(self.client_key),
            "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-F", "/dev/null",
            *extra,
            f"{self.user}@127.0.0.1",
        ]


def password_user_reason() -> str | None:
    """Why a throwaway password user cannot be created here, or None when it can."""
    if os.geteuid() != 0:
        return "password login needs a system user with a password; creating one needs root"
    if not (shutil.which("useradd") and shutil.which("userdel") and shutil.which("chpasswd")):
        return "useradd/userdel/chpasswd not available to create a throwaway password user"
    return None


@contextlib.contextmanager
def make_password_user(name: str, password: str, home: Path) -> Iterator[pwd.struct_passwd]:
    """Create a throwaway system user with a password (root only) and remove it afterwards."""
    reason = password_user_reason()
    if reason:
        raise RuntimeError(reason)
    with contextlib.suppress(KeyError):
        pwd.getpwnam(name)
        subprocess.run(["userdel", name], check=False, capture_output=True)
    subprocess.run(
        ["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/sh", name],
        check=True, capture_output=True,
    )
    try:
        subprocess.run(["chpasswd"], input=f"{name}:{password}".encode(), check=True, capture_output=True)
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)
