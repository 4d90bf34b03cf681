"""A real FTP/FTPS server for the tests and the benchmark: pyftpdlib (with its pyOpenSSL TLS handler)
in its own process on a loopback port, with the variants real servers have.

    FtpServer(folder, tls="explicit", require_reuse=True).start()    # like vsftpd's require_ssl_reuse
    FtpServer(folder, refuse_rename_over=True).start()               # RNTO onto an existing file: 550
    FtpServer(folder, certificate="wrong").start()                   # a certificate our CA did not sign
    FtpServer(folder, advertise={40001: 51234})                      # PASV/EPSV name a proxy's port

Run as a script, this file is the server process (its options mirror FtpServer's).
Certificates are made with `cryptography`: one test CA (`ca.pem`, which clients trust through
FEEDS_FTP_CA_FILE), a server certificate it signed for 127.0.0.1 and localhost, and a self-signed
"wrong" one.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

USER = "feeds"
PASSWORD = "s3cret-ftp-password"


def make_certificates(folder: Path) -> dict[str, Path]:
    """ca.pem, server.pem (cert + key, signed by the CA) and wrong.pem (self-signed), made once per folder."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    paths = {name: folder / f"{name}.pem" for name in ("ca", "server", "wrong")}
    if all(path.exists() for path in paths.values()):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def build(subject: str, key, issuer: str, issuer_key, ca: bool) -> x509.Certificate:  # noqa: ANN001
        builder = (
            x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        else:
            builder = builder.add_extension(
                x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                              key_encipherment=False, data_encipherment=False, key_agreement=False,
                              encipher_only=False, decipher_only=False), critical=True)
        return builder.sign(issuer_key, hashes.SHA256())

    def pem(cert: x509.Certificate, key=None) -> bytes:  # noqa: ANN001
        data = cert.public_bytes(serialization.Encoding.PEM)
        if key is not None:
            data += key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        return data

    ca_key, server_key, wrong_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = build("feeds test CA", ca_key, "feeds test CA", ca_key, True)
    paths["ca"].write_bytes(pem(ca))
    paths["server"].write_bytes(pem(build("127.0.0.1", server_key, "feeds test CA", ca_key, False), server_key))
    paths["wrong"].write_bytes(pem(build("127.0.0.1", wrong_key, "127.0.0.1", wrong_key, False), wrong_key))
    return paths


def certificate_fingerprint(pem_path: Path) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    digest = x509.load_pem_x509_certificate(pem_path.read_bytes()).fingerprint(hashes.SHA256()).hex().upper()
    return "SHA256:" + ":".join(digest[i : i + 2] for i in range(0, 64, 2))


class FtpServer:
    """One pyftpdlib server process serving `root` to USER/PASSWORD."""

    def __init__(
        self,
        folder: Path,
        *,
        tls: str = "explicit",
        require_reuse: bool = False,
        refuse_rename_over: bool = False,
        no_epsv: bool = False,
        minimal: bool = False,
        certificate: str = "server",
        advertise: dict[int, int] | None = None,
        certificates: Path | None = None,
    ) -> None:
        self.folder = folder
        self.root = folder / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.certificates = make_certificates(certificates or folder.parent / "ftp-certificates")
        self.ca_file = self.certificates["ca"]
        self.cert = self.certificates[certificate]
        self.fingerprint = certificate_fingerprint(self.cert)
        self.options = [
            "--root", str(self.root), "--tls", tls, "--cert", str(self.cert),
            *(["--require-reuse"] if require_reuse else []),
            *(["--refuse-rename-over"] if refuse_rename_over else []),
            *(["--no-epsv"] if no_epsv else []),
            *(["--minimal"] if minimal else []),
            *(["--advertise", ",".join(f"{port}:{shown}" for port, shown in advertise.items())] if advertise else []),
        ]
        self.port = 0
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> "FtpServer":
        port_file = self.folder / "port"
        port_file.unlink(missing_ok=True)
        log = open(self.folder / "ftpd.log", "w")  # noqa: SIM115  kept open for the process's life
        self.process = subprocess.Popen(
            [sys.executable, __file__, *self.options, "--port-file", str(port_file)],
            stdout=log, stderr=subprocess.STDOUT, text=True,
        )
        deadline = time.monotonic() + 20
        while not port_file.exists() or not port_file.read_text().strip():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the FTP server did not start: {(self.folder / 'ftpd.log').read_text()}")
            time.sleep(0.02)
        self.port = int(port_file.read_text())
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def env(self, remote: Path | str, **overrides: str) -> dict[str, str]:
        """FEEDS_FTP_* variables that point `feeds` at this server, delivering into `remote`."""
        remote_dir = "/" + str(Path(remote).relative_to(self.root)) if Path(remote).is_absolute() else str(remote)
        return {
            "FEEDS_FTP_HOST": "127.0.0.1",
            "FEEDS_FTP_PORT": str(self.port),
            "FEEDS_FTP_USER": USER,
            "FEEDS_FTP_PASSWORD": PASSWORD,
            "FEEDS_FTP_CA_FILE": str(self.ca_file),
            "FEEDS_FTP_REMOTE_DIR": remote_dir,
            **overrides,
        }


# -- the server process ------------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    from OpenSSL import SSL
    from OpenSSL._util import lib as openssl
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler, TLS_DTPHandler, TLS_FTPHandler
    from pyftpdlib.servers import FTPServer

    advertise = {int(a): int(b) for a, b in (pair.split(":") for pair in args.advertise.split(","))} if args.advertise else {}
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, args.root, perm="elradfmwMT")

    class ReuseRequiredDTP(TLS_DTPHandler):
        """Refuses a data connection whose TLS session is not the control connection's, resumed (what
        vsftpd's require_ssl_reuse and ProFTPD's default do)."""

        def handle_ssl_established(self) -> None:
            if not openssl.SSL_session_reused(self.socket._ssl):
                self._resp = ("522 Data connection must resume the TLS session of the control connection.",
                              lambda *a, **k: None)
                self._error = True  # close without a TLS shutdown
                self.close()

    base = FTPHandler if args.tls == "none" else TLS_FTPHandler

    class Handler(base):  # type: ignore[misc, valid-type]
        def respond(self, resp: str, *rest, **kwargs) -> None:  # noqa: ANN002, ANN003
            # Data connections through the test's cutting proxies: advertise the proxy's port.
            if advertise:
                resp = re.sub(r"\(\|\|\|(\d+)\|\)", lambda m: f"(|||{advertise[int(m[1])]}|)", resp)
                match = re.match(r"227 .*\((\d+,\d+,\d+,\d+),(\d+),(\d+)\)", resp)
                if match:
                    port = advertise[int(match[2]) * 256 + int(match[3])]
                    resp = f"227 Entering passive mode ({match[1]},{port // 256},{port % 256})."
            super().respond(resp, *rest, **kwargs)

        def ftp_RNTO(self, path: str):  # noqa: ANN201
            if args.refuse_rename_over and self._rnfr and os.path.lexists(path):
                self._rnfr = None
                self.respond("550 Rename failed: the target exists.")
                return None
            return super().ftp_RNTO(path)

        if args.no_epsv:
            def ftp_EPSV(self, line: str) -> None:  # noqa: ARG002  an older server: PASV only
                self.respond('500 Command "EPSV" not understood.')

        if args.tls == "implicit":
            def handle(self) -> None:
                self.secure_connection(self.ssl_context)
                super().handle()

    Handler.authorizer = authorizer
    if args.minimal:  # an older server: no SIZE, no MLST/MLSD (sizes and names from LIST and NLST)
        Handler.proto_cmds = {cmd: spec for cmd, spec in base.proto_cmds.items() if cmd not in ("SIZE", "MLST", "MLSD")}
    Handler.banner = "feeds test ftpd"
    Handler.auth_failed_timeout = 0.1  # pyftpdlib waits 3 s before answering a wrong password
    if advertise:
        Handler.passive_ports = sorted(advertise)
    if args.tls != "none":
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        context.use_certificate_chain_file(args.cert)
        context.use_privatekey_file(args.cert)
        context.set_options(SSL.OP_NO_SSLv2 | SSL.OP_NO_SSLv3 | SSL.OP_NO_COMPRESSION)
        # Sessions cached, so a data connection can resume the control connection's.
        context.set_session_id(b"feeds-test-ftpd")
        context.set_session_cache_mode(SSL.SESS_CACHE_SERVER)
        Handler.ssl_context = context
        Handler.tls_control_required = True
        Handler.tls_data_required = True
        if args.require_reuse:
            Handler.dtp_handler = ReuseRequiredDTP
    server = FTPServer(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *_: server.close_all())
    Path(args.port_file).write_text(str(server.socket.getsockname()[1]))
    server.serve_forever(handle_exit=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--tls", choices=["explicit", "implicit", "none"], default="explicit")
    parser.add_argument("--cert")
    parser.add_argument("--require-reuse", action="store_true")
    parser.add_argument("--refuse-rename-over", action="store_true")
    parser.add_argument("--no-epsv", action="store_true")
    parser.add_argument("--minimal", action="store_true")
    parser.add_argument("--advertise", help="PORT:SHOWN,...: passive ports, and the port each PASV/EPSV reply names")
    parser.add_argument("--port-file", required=True)
    serve(parser.parse_args())
