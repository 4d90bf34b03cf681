"""Real warehouse servers for tests: a PostgreSQL cluster started from Debian's `postgresql`
package, and the settings of a local Spark session (pyspark + Java 17).

PostgreSQL refuses to run as root, and CI runs as root: the cluster is initialised into a temporary
folder owned by the `postgres` system user and started through `runuser` (directly when the tests
run as an ordinary user). It listens on a free loopback port with password (SCRAM) authentication.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: Set in CI (.ci/run): a target that cannot start fails the suite instead of skipping it.
REQUIRE_ENV = "FEEDS_REQUIRE_TARGETS"


def required() -> bool:
    return bool(os.environ.get(REQUIRE_ENV))


def postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl are: Debian keeps them outside PATH, one folder per major version."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def postgres_missing_reason() -> str | None:
    if postgres_bindir() is None:
        return "PostgreSQL server binaries not found (apt-get install postgresql)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to start PostgreSQL as the postgres user"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on a loopback port; `env()` gives the libpq variables."""

    root: Path
    port: int = 0
    user: str = "feeds"
    password: str = "s3cret-pg-pass"
    database: str = "feeds"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(postgres_bindir() / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120)

    def start(self) -> "PostgresServer":
        # /tmp/pytest-of-root is root-only: the cluster gets its own folder the server user can enter.
        self.data = Path(tempfile.mkdtemp(prefix="feeds-pg-"))
        pwfile = self.data / "pw"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        self.port = free_port()
        cluster = self.data / "cluster"
        # C collation and UTF-8, as DuckDB compares text: sorted lists and tie-breaks agree.
        self._run("initdb", "-D", str(cluster), "-U", self.user, "--pwfile", str(pwfile), "--auth", "scram-sha-256",
                  "-E", "UTF8", "--locale", "C")
        pwfile.unlink()
        for attempt in range(3):
            options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=128MB")
            started = self._run("pg_ctl", "-D", str(cluster), "-o", options, "-l", str(self.data / "log"), "-w", "start",
                                check=False)
            if started.returncode == 0:
                break
            # Probably lost the port to another process (tests run in parallel): try another one.
            if attempt == 2:
                log = (self.data / "log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"pg_ctl start failed: {started.stderr}{log}")
            self.port = free_port()
        with_db = subprocess.run(
            ["psql", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", f"create database {self.database}"],
            env={**os.environ, **self.env(database="postgres")}, capture_output=True, text=True, timeout=60,
        )
        if with_db.returncode != 0:
            raise RuntimeError(f"create database failed: {with_db.stderr}")
        return self

    def env(self, database: str | None = None) -> dict[str, str]:
        return {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": database or self.database,
            "PGSSLMODE": "disable",
        }

    def psql(self, sql: str) -> str:
        done = subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql], env={**os.environ, **self.env()},
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        return done.stdout

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data / "cluster"), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.data, ignore_errors=True)


def spark_missing_reason() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -e '.[dev]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime for Spark (apt-get install openjdk-17-jre-headless)"
    return None
