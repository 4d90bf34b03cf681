"""No lost rows over FTPS, whatever stops a delivery: `feeds run` to a real FTPS server that requires
TLS session reuse and refuses a rename onto an existing file (so every replace goes through
`.NAME.old`), SIGKILLed at each step of the upload and the replace, or cut off (control and data
connections) with every retry failing; then the next run.

Checked as a pickup would see it (tests/python/test_noloss.py's replay): after the interruption no
final name holds a partial file (each is byte for byte a file some run exported), and after the
next run every waiting file, upserted by key in name order, holds every row of a full export.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Iterator

import pytest

from ftpd import FtpServer
from test_ftp import Proxies, ftpd_factory, proxied_ftpd  # noqa: F401  the server fixture
from test_noloss import Holder, change_marts, config_text, full_export, hidden, missing_and_stale, run, upsert
from test_noloss import waiting_files
from runner.faults import ENV, SWAP_POINTS
from workspace import SPEC, Workspace

FTP_CONFIG = config_text("  type: ftp\n  retries: 1\n  backoff: 0\n  connect_timeout: 5\n  operation_timeout: 10\n")


class Setup:
    def __init__(self, root: Path, server: FtpServer, proxies: Proxies) -> None:
        self.workspace = Workspace(root / "ws", seed=31, orders=300)
        self.workspace.config.write_text(FTP_CONFIG, encoding="utf-8")
        self.remote = server.root / "listrak"
        self.remote.mkdir()
        self.proxies = proxies
        self.env = server.env(self.remote, FEEDS_FTP_PORT=str(proxies.control.port))

    def exported(self) -> set[str]:
        """SHA-256 of every file any run exported (a complete file under a final name is one of them)."""
        return {hashlib.sha256(path.read_bytes()).hexdigest() for path in self.workspace.out.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def ftps(tmp_path_factory: pytest.TempPathFactory, ftpd_factory: Callable[..., FtpServer]) -> Iterator[Setup]:
    """The first, full delivery is done over FTPS and nothing is picked up: every feed file is waiting."""
    server, proxies = proxied_ftpd(ftpd_factory, require_reuse=True, refuse_rename_over=True)
    setup = Setup(tmp_path_factory.mktemp("ftp-noloss"), server, proxies)
    first = run(setup.workspace, setup.env, "--json")
    assert first.returncode == 0, first.stderr
    record = json.loads(first.stdout)["run"]
    assert record["destination"].startswith("ftp:ftps://"), record["destination"]
    assert sorted(path.name for path in waiting_files(setup.remote)) == sorted(
        path.name for path in (setup.workspace.out / record["run_id"]).iterdir()
    )
    assert len(waiting_files(setup.remote)) == len(SPEC)
    yield setup
    proxies.close()


CASES = [("kill", "upload"), ("kill", "rename"), *[("kill", point) for point in SWAP_POINTS], ("kill", "commit"),
         ("cut", "upload"), ("cut", "rename-final")]


@pytest.mark.parametrize(("way", "point"), CASES, ids=[f"{way}-{point}" for way, point in CASES])
def test_ftps_delivery_interrupted_at_each_step_loses_no_row(ftps: Setup, tmp_path: Path, way: str, point: str) -> None:
    workspace, remote, env = ftps.workspace, ftps.remote, ftps.env
    change_marts(workspace, f"ftp-{way}-{point}")
    finals = {path.name for path in waiting_files(remote)}
    assert len(finals) == 4, "each case starts with every feed file waiting (the last case's)"

    if way == "kill":
        killed = run(workspace, {**env, ENV: point}, "--skip-build")
        assert killed.returncode == -9, f"the run was not killed at {point}: {killed.stderr}"
    else:
        holder = Holder(ftps.proxies, tmp_path / "hold", point, refuse=True)  # type: ignore[arg-type]
        try:
            cut = run(workspace, {**env, **holder.env}, "--skip-build")
        finally:
            holder.stop()
        assert holder.cut.is_set(), f"the run never reached {point}: {cut.stderr}"
        assert cut.returncode == 3, cut.stderr
        assert "gave up after 2 attempts" in cut.stderr
    exported = ftps.exported()
    for path in waiting_files(remote):
        assert hashlib.sha256(path.read_bytes()).hexdigest() in exported, f"partial file under final name {path.name}"
    if point == "rename-final":
        assert any(name.endswith(".old") for name in hidden(remote)), hidden(remote)

    recovery = run(workspace, env, "--skip-build", "--json")
    assert recovery.returncode == 0, recovery.stderr
    assert hidden(remote) == [], "leftover temporaries not removed"
    assert {path.name for path in waiting_files(remote)} == finals

    imported = upsert({}, waiting_files(remote))  # the importer takes every waiting file now
    assert missing_and_stale(imported, full_export(workspace, env)) == {}, f"rows lost after {way} at {point}"
    record = json.loads(run(workspace, env, "--skip-build", "--json").stdout)["run"]
    assert {name: entry["changed_rows"] for name, entry in record["feeds"].items() if entry["mode"] == "delta"} == {
        "orders": 0, "order_items": 0, "customers": 0}


def test_feeds_check_over_ftps_shows_the_certificate_and_what_the_server_supports(ftps: Setup) -> None:
    leftover = ftps.remote / f".{sorted(path.name for path in waiting_files(ftps.remote))[0]}.part"
    leftover.write_text("an upload that did not finish\n")
    try:
        check = ftps.workspace.feeds("check", "--config", str(ftps.workspace.config), env=ftps.env)
    finally:
        leftover.unlink()
    assert check.returncode == 0, check.stdout + check.stderr
    out = check.stdout
    assert f"verified against {ftps.env['FEEDS_FTP_CA_FILE']}" in out
    assert "certificate: SHA256:" in out
    assert "supports: MLST yes, SIZE yes, REST yes, EPSV yes" in out
    assert "rename onto an existing file: refused" in out
    assert "TLS session reuse on data connections: yes" in out
    assert f"leftover  {leftover.name}: the next delivery removes it" in out
    assert hidden(ftps.remote) == [], "the probe files are removed"
