"""The smaller `feeds` commands end to end: check, upload, resend, validate, preview; SFTP against a
real sshd on loopback."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import pytest

from conftest_sftp import *  # noqa: F401,F403  the sshd fixtures
from conftest_sftp import sftp_env
from sshd import SshServer
from workspace import SPEC, Workspace, feeds_command


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict]:
    """A workspace built and exported once, nothing delivered."""
    workspace = Workspace(tmp_path_factory.mktemp("commands") / "ws", seed=31, orders=300)
    result = workspace.feeds("run", "--config", str(workspace.config), "--no-upload", "--json")
    assert result.returncode == 0, result.stderr
    return workspace, json.loads(result.stdout)["run"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_no_upload_exports_without_delivering(exported) -> None:
    workspace, run = exported
    assert workspace.files(workspace.delivered) == []
    assert {entry["status"] for entry in run["feeds"].values()} == {"exported"}
    assert all(Path(entry["local_path"]).is_file() for entry in run["feeds"].values())


def test_upload_sends_the_last_runs_files_over_sftp(exported, sshd: SshServer, tmp_path: Path) -> None:
    workspace, run = exported
    remote = sshd.upload_dir / f"upload-{tmp_path.name}"
    remote.mkdir()
    result = workspace.feeds("upload", "--config", str(workspace.config), "--json", env=sftp_env(sshd, remote))
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)["run"]
    for entry in run["feeds"].values():
        local = Path(entry["local_path"])
        delivered = remote / local.name
        assert sha256(delivered) == entry["sha256"] == record["feeds"][local.name]["sha256"]
        assert record["feeds"][local.name]["remote_path"] == str(delivered)
    assert sorted(path.name for path in remote.iterdir()) == sorted(Path(e["local_path"]).name for e in run["feeds"].values())


def test_upload_of_a_file_changed_since_its_run_records_the_hash_of_what_was_sent(
    exported, sshd: SshServer, tmp_path: Path
) -> None:
    workspace, run = exported
    entry = next(entry for entry in run["feeds"].values() if entry["rows"])
    local = Path(entry["local_path"])
    original, stat = local.read_bytes(), local.stat()
    changed = original.replace(b"@", b"#", 1)  # same size, other bytes: the recorded hash is stale
    assert len(changed) == len(original) and changed != original
    remote = sshd.upload_dir / f"changed-{tmp_path.name}"
    remote.mkdir()
    try:
        local.write_bytes(changed)
        os.utime(local, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # an edit that even keeps the mtime
        result = workspace.feeds(
            "upload", str(local), "--config", str(workspace.config), "--json", env=sftp_env(sshd, remote)
        )
        assert result.returncode == 0, result.stderr
        sent = json.loads(result.stdout)["run"]["feeds"][local.name]["sha256"]
        assert sent == hashlib.sha256(changed).hexdigest() == sha256(remote / local.name) != entry["sha256"]
    finally:
        local.write_bytes(original)
        os.utime(local, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_failed_upload_still_records_the_files_hash(exported, sshd_factory, tmp_path: Path) -> None:
    workspace, run = exported
    server = sshd_factory(sftp_flags=["-P", "write"])  # logs in and opens files, refuses every write
    remote = server.upload_dir / f"refused-{tmp_path.name}"
    remote.mkdir()
    local = tmp_path / "Listrak_Order_Feed_20260101.csv"
    local.write_bytes(Path(run["feeds"]["orders"]["local_path"]).read_bytes())
    result = workspace.feeds("upload", str(local), "--config", str(workspace.config), "--json",
                             env=sftp_env(server, remote))
    assert result.returncode == 3, result.stderr
    entry = json.loads(result.stdout)["run"]["feeds"][local.name]
    assert entry["status"] == "failed" and entry["error"]
    assert entry["sha256"] == sha256(local)  # what was meant to be sent, though it was not
    assert list(remote.iterdir()) == []


def test_resend_delivers_an_earlier_run_again(exported, tmp_path: Path) -> None:
    workspace, run = exported
    result = workspace.feeds("resend", run["run_id"], "--config", str(workspace.config), "--json")
    assert result.returncode == 0, result.stderr
    delivered = {path.name: path for path in workspace.files(workspace.delivered)}
    for entry in run["feeds"].values():
        assert sha256(delivered[Path(entry["local_path"]).name]) == entry["sha256"]
    missing = workspace.feeds("resend", "20000101T000000Z-0000", "--config", str(workspace.config))
    assert missing.returncode == 2 and "feeds history" in missing.stderr

    # The files are still waiting (nothing picked them up): replacing them needs --force.
    before = {name: path.stat().st_mtime_ns for name, path in delivered.items()}
    refused = workspace.feeds("resend", run["run_id"], "--config", str(workspace.config))
    assert refused.returncode == 4 and "still waiting" in refused.stderr and "--force" in refused.stderr
    assert {name: path.stat().st_mtime_ns for name, path in delivered.items()} == before
    forced = workspace.feeds("resend", run["run_id"], "--force", "--config", str(workspace.config))
    assert forced.returncode == 0, forced.stderr


def test_check_shows_the_host_key_and_proves_the_directory_writable(exported, sshd: SshServer, tmp_path: Path) -> None:
    workspace, _ = exported
    remote = sshd.upload_dir / f"check-{tmp_path.name}"
    remote.mkdir()
    result = workspace.feeds("check", "--config", str(workspace.config), env=sftp_env(sshd, remote))
    assert result.returncode == 0, result.stdout + result.stderr
    assert sshd.fingerprint in result.stdout
    assert "writable" in result.stdout
    assert list(remote.iterdir()) == []


def test_unknown_host_key_is_refused_with_its_fingerprint(exported, sshd: SshServer, tmp_path: Path) -> None:
    workspace, _ = exported
    remote = sshd.upload_dir / f"unknown-{tmp_path.name}"
    remote.mkdir()
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    env = {**sftp_env(sshd, remote), "FEEDS_SFTP_KNOWN_HOSTS": str(empty)}
    result = workspace.feeds("upload", "--config", str(workspace.config), env=env)
    assert result.returncode == 3
    assert sshd.fingerprint in result.stderr and "FEEDS_SFTP_HOST_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(remote.iterdir()) == []


def test_wrong_pinned_key_is_refused(exported, sshd: SshServer, tmp_path: Path) -> None:
    workspace, _ = exported
    remote = sshd.upload_dir / f"pin-{tmp_path.name}"
    remote.mkdir()
    env = {**sftp_env(sshd, remote), "FEEDS_SFTP_HOST_KEY": "SHA256:" + "A" * 43}
    env.pop("FEEDS_SFTP_KNOWN_HOSTS")
    result = workspace.feeds("upload", "--config", str(workspace.config), env=env)
    assert result.returncode == 3, result.stderr
    assert list(remote.iterdir()) == []
    pinned = {**env, "FEEDS_SFTP_HOST_KEY": sshd.fingerprint}
    assert workspace.feeds("upload", "--config", str(workspace.config), env=pinned).returncode == 0


def test_validate_reports_row_column_and_rule(exported, tmp_path: Path) -> None:
    workspace, run = exported
    good = Path(run["feeds"]["orders"]["local_path"])
    lines = good.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    row = next(csv.reader(lines[1:]))
    row[header.index("Email")] = "not-an-address-but-long-enough" * 5
    row[header.index("OrderTotal")] = "$12.00"
    bad = tmp_path / "orders.csv"


    with open(bad, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerow(row)
    result = workspace.feeds("validate", str(bad), "--feed", "orders", "--config", str(workspace.config), "--json")
    assert result.returncode == 1
    problems = json.loads(result.stdout)["problems"]
    found = {(problem["row"], problem["column"], problem["rule"]) for problem in problems}
    assert (1, "Email", "max_length") in found
    assert (1, "OrderTotal", "type") in found


def test_preview_shows_the_first_rows(exported) -> None:
    workspace, _ = exported
    result = workspace.feeds("preview", "products", "-n", "3", "--config", str(workspace.config))
    assert result.returncode == 0, result.stderr
    assert "Sku" in result.stdout and "MasterSku" in result.stdout
    unknown = workspace.feeds("preview", "nope", "--config", str(workspace.config))
    assert unknown.returncode == 2 and "products" in unknown.stderr


def test_every_feed_file_is_named_per_spec(exported) -> None:
    _, run = exported
    names = sorted(Path(entry["local_path"]).name for entry in run["feeds"].values())
    day = run["run_date"].replace("-", "")
    assert names == sorted(f"{prefix}{day}.csv" for prefix, _ in SPEC.values())


def test_feeds_version() -> None:
    result = feeds_command("--version")
    assert result.returncode == 0 and result.stdout.startswith("feeds ")
