"""Operating `feeds` in a hostile world: a DuckDB file held by another process, raw tables that are
not there, runs killed mid-way, `--skip-build` after a failed build, delivery retries in the log,
and what `feeds export` writes. Real DuckDB, dbt and sshd throughout."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import duckdb
import pytest

from conftest_sftp import *  # noqa: F401,F403  the sshd fixtures
from conftest_sftp import CuttingProxy
from sshd import SshServer
from workspace import MARTS, REPO, Workspace


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A workspace whose feeds were built, exported and delivered once (local destination)."""
    workspace = Workspace(tmp_path_factory.mktemp("operations") / "ws", seed=23, orders=300)
    result = workspace.feeds("run", "--config", str(workspace.config), "--quiet")
    assert result.returncode == 0, result.stderr
    return workspace


def copy_of(workspace: Workspace, root: Path) -> Workspace:
    """A private copy of a workspace (data, state, files), to change without disturbing others."""
    shutil.copytree(workspace.root, root)
    return Workspace.existing(root)


def last_run(workspace: Workspace) -> dict:
    history = workspace.feeds("history", "--config", str(workspace.config), "--json", "--limit", "1")
    assert history.returncode == 0, history.stderr
    return json.loads(history.stdout)[0]


# -- 8: a DuckDB file held by another process ------------------------------------------------------


@pytest.fixture
def held(built: Workspace) -> Iterator[Path]:
    """Another process holding the workspace's DuckDB file open (as a notebook or BI tool would)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
         "sys.stdin.read()", str(built.duckdb)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    try:
        yield built.duckdb
    finally:
        holder.communicate(timeout=30)


@pytest.mark.parametrize("command", [("run",), ("build",), ("export",), ("run", "--skip-build")])
def test_a_held_duckdb_file_is_exit_4_with_one_message_in_every_command(built, held, command) -> None:
    result = built.feeds(*command, "--config", str(built.config), "--quiet")
    assert result.returncode == 4, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    # The same message whatever the command (only DuckDB's own reason names the holder's pid).
    assert re.sub(r" \(IO Error: .*\); ", " (...); ", errors[0]) == (
        f"error: DuckDB file {held} is in use by another process (...); close it and retry"
    )
    assert "dbt build failed" not in result.stderr and "Traceback" not in result.stderr


def test_feeds_build_waits_for_no_run_it_refuses_as_run_does(built: Workspace) -> None:
    # A build changes the incremental tables and their fingerprints: two at once would interleave them.
    import fcntl

    with open(built.root / "state" / "run.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        result = built.feeds("build", "--config", str(built.config), "--quiet")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "error: another feeds run holds" in result.stderr and "Traceback" not in result.stderr
    record = last_run(built)
    assert record["command"] == "build" and record["error_type"] == "RunLocked" and not record.get("dbt")


def test_dbts_own_lock_error_is_the_same_held_file_error(built, held, tmp_path: Path) -> None:
    # Another process may take the file between the pre-flight check and dbt: dbt's lock error is
    # then mapped to the same error (exit 4) rather than "dbt build failed".
    from runner.build import DbtProject
    from runner.errors import RunLocked
    from runner.run.execute import build_failure

    summary = DbtProject(REPO, held, log_dir=tmp_path).build(["listrak_orders"])
    assert not summary.success and "Could not set lock" in (summary.error or "")
    error = build_failure(summary, held)
    assert isinstance(error, RunLocked)
    assert str(error).startswith(f"DuckDB file {held} is in use by another process (IO Error: Could not set lock")


# -- 9: raw tables that are not where the project reads them ---------------------------------------


def test_an_empty_duckdb_file_is_exit_2_naming_the_schema_var_and_the_tables(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "ws", generate_data=False)
    duckdb.connect(str(workspace.duckdb)).close()
    for command in ("build", "run"):
        result = workspace.feeds(command, "--config", str(workspace.config), "--quiet")
        assert result.returncode == 2, result.stdout + result.stderr
        assert "shopify_schema" in result.stderr and "schema 'shopify'" in result.stderr
        assert "has none of the 16 raw tables" in result.stderr
        for table in ("order", "order_line", "customer", "product_variant"):
            assert re.search(rf"\b{table}\b", result.stderr), table
        assert "Catalog Error" not in result.stderr and "Traceback" not in result.stderr


def test_a_schema_var_pointing_elsewhere_is_exit_2_naming_it(built, tmp_path: Path) -> None:
    # A copy of the dbt project whose shopify_schema names a schema the DuckDB file does not have.
    project = tmp_path / "project"
    project.mkdir()
    for name in ("models", "macros", "seeds", "profiles"):
        shutil.copytree(REPO / name, project / name)
    shutil.copytree(REPO / "tests" / "dbt", project / "tests" / "dbt")
    settings = (REPO / "dbt_project.yml").read_text()
    assert "  shopify_schema: shopify\n" in settings
    (project / "dbt_project.yml").write_text(settings.replace("  shopify_schema: shopify\n", "  shopify_schema: raw_shopify\n"))
    workspace = copy_of(built, tmp_path / "ws")
    workspace.config.write_text(workspace.config.read_text().replace(f"project_dir: {REPO}", f"project_dir: {project}"))
    result = workspace.feeds("run", "--config", str(workspace.config), "--quiet")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "schema 'raw_shopify' (dbt var shopify_schema) has none of the 16 raw tables" in result.stderr
    assert "Catalog Error" not in result.stderr and "Traceback" not in result.stderr


def test_one_missing_raw_table_is_exit_2_naming_it(built, tmp_path: Path) -> None:
    workspace = copy_of(built, tmp_path / "ws")
    workspace.sql("drop table shopify.product_variant")
    result = workspace.feeds("run", "--config", str(workspace.config), "--quiet")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "schema 'shopify' (dbt var shopify_schema) lacks 1 of 16 raw tables the selected models read: product_variant." in result.stderr
    assert "Catalog Error" not in result.stderr and "Traceback" not in result.stderr
    assert last_run(workspace)["error_type"] == "ConfigError"


# -- 12: a run killed mid-way ----------------------------------------------------------------------


def test_a_killed_run_shows_as_interrupted(built, tmp_path: Path) -> None:
    workspace = copy_of(built, tmp_path / "ws")
    killed = workspace.feeds("export", "--config", str(workspace.config), "--quiet", env={"FEEDS_FAILPOINT": "export"})
    assert killed.returncode == -9, killed.stdout + killed.stderr
    record = json.loads(max((workspace.root / "state" / "runs").glob("*.json")).read_text())
    assert record["status"] == "running"  # the file as the killed process left it
    run = last_run(workspace)
    assert run["run_id"] == record["run_id"]
    assert run["status"] == "interrupted"
    assert f"pid {record['pid']}" in run["error"]
    table = workspace.feeds("history", "--config", str(workspace.config))
    assert "interrupted" in table.stdout


def test_a_running_run_stays_running(built) -> None:
    # The record of a live process (this one) is not taken for an interrupted run.
    from runner.record import RunStore

    store = RunStore(built.root / "state" / "runs-live")
    record = store.start("run")
    assert store.get(record.run_id).status == "running"
    assert [item.status for item in store.recent()] == ["running"]


# -- 13: --skip-build after a failed build ----------------------------------------------------------


def test_skip_build_after_a_failed_build_refuses_to_deliver_unless_forced(built, tmp_path: Path) -> None:
    workspace = copy_of(built, tmp_path / "ws")
    shutil.rmtree(workspace.delivered)
    workspace.sql("update shopify.customer set email = 'broken-address-' || id where id % 5 <> 0")
    workspace.sql("""update shopify."order" set email = 'no-at-sign.example.com' where email is not null and id % 5 <> 0""")
    failed = workspace.feeds("run", "--config", str(workspace.config), "--quiet")
    assert failed.returncode == 1 and "dbt build failed" in failed.stderr
    failed_run = last_run(workspace)["run_id"]

    refused = workspace.feeds("run", "--skip-build", "--config", str(workspace.config), "--quiet")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"the last build (run {failed_run}" in refused.stderr and "--force" in refused.stderr
    assert workspace.files(workspace.delivered) == []

    exported = workspace.feeds("export", "--config", str(workspace.config), "--quiet")
    assert exported.returncode == 0, exported.stderr
    assert "warning: the last build" in exported.stderr

    forced = workspace.feeds("run", "--skip-build", "--force", "--config", str(workspace.config), "--json")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert f"warning: the last build (run {failed_run}" in forced.stderr
    assert len(workspace.files(workspace.delivered)) == 4
    assert json.loads(forced.stdout)["run"]["options"]["forced_after_failed_build"] == failed_run


# -- 20: feeds export writes what its help says ----------------------------------------------------


def test_export_writes_full_files_and_delta_only_when_asked_and_never_moves_the_state(built, tmp_path: Path) -> None:
    workspace = copy_of(built, tmp_path / "ws")
    # Another day's file name: no earlier file of that name may be waiting, so a delta holds only changes.
    day = "2030-01-02"
    state = workspace.root / "state" / "state.duckdb"

    def deliveries() -> list[tuple]:
        with duckdb.connect(str(state), read_only=True) as connection:
            return connection.execute("select * from deliveries order by all").fetchall()

    before = deliveries()
    full = workspace.feeds("export", "--date", day, "--config", str(workspace.config), "--json")
    assert full.returncode == 0, full.stderr
    feeds = json.loads(full.stdout)["run"]["feeds"]
    for name, mart in MARTS.items():
        assert feeds[name]["mode"] == "full"
        assert feeds[name]["rows"] == workspace.sql(f"select count(*) from main.{mart}")[0][0] > 0, name

    delta = workspace.feeds("export", "--delta", "--date", day, "--config", str(workspace.config), "--json")
    assert delta.returncode == 0, delta.stderr
    feeds = json.loads(delta.stdout)["run"]["feeds"]
    assert feeds["orders"]["mode"] == "delta" and feeds["orders"]["rows"] == 0
    assert deliveries() == before
    assert "whole" in workspace.feeds("export", "--help").stdout


# -- 11: delivery retries in the log, as warnings, without paramiko's noise ------------------------


def test_retries_are_logged_with_timestamps_and_shown_as_warnings(
    built, sshd: SshServer, cutting_proxy, tmp_path: Path
) -> None:
    workspace = copy_of(built, tmp_path / "ws")
    files = sorted((workspace.root / "out").rglob("*.csv"), key=lambda path: -path.stat().st_size)
    assert files and files[0].stat().st_size > 40_000
    remote = sshd.upload_dir / f"retries-{tmp_path.name}"
    remote.mkdir()
    # The first connection is reset once the largest file is well under way; the retry reconnects.
    proxy: CuttingProxy = cutting_proxy(sshd.port, cuts={0: 30_000})
    config = workspace.root / "sftp.yml"
    config.write_text(
        f"project_dir: {REPO}\nduckdb_path: feeds.duckdb\noutput_dir: out\nstate_dir: state\n"
        f"destination:\n  type: sftp\n  host: 127.0.0.1\n  port: {proxy.port}\n  username: {sshd.user}\n"
        f"  key_file: {sshd.client_key}\n  host_key: '{sshd.fingerprint}'\n  use_agent: false\n"
        f"  remote_dir: {remote}\n  backoff: 0\n  concurrency: 1\n",
        encoding="utf-8",
    )
    result = workspace.feeds("upload", *map(str, files[:1]), "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(proxy.sent) >= 2  # the cut happened and the delivery reconnected
    assert (remote / files[0].name).read_bytes() == files[0].read_bytes()
    retry = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING .*retrying in", re.MULTILINE)
    log = (workspace.root / "state" / "feeds.log").read_text()
    assert retry.search(log), log
    assert re.search(r"^warning: .*retrying in", result.stderr, re.MULTILINE), result.stderr
    assert "Socket exception" not in result.stderr and "Traceback" not in result.stderr
