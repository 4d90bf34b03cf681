"""No lost rows, whatever stops a delivery: `feeds run` against a real OpenSSH sshd without
posix-rename (the fallback replace), SIGKILLed or cut off at each step of the replace; a lost
delivery state; remote look-ups cut mid-way; leftover temporaries of any date.

What Listrak ends up with is checked the way it would import: every file a pickup would see,
upserted by key in name order, against a full export of the marts: no key missing, no row stale.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest_sftp import *  # noqa: F401,F403  the sshd fixtures
from conftest_sftp import CuttingProxy, requires_sshd, sftp_env, sftp_settings
from runner.deliver import Upload
from runner.deliver.sftp import SftpDestination
from runner.errors import TransientDeliveryError
from runner.faults import ENV, HOLD_ENV, SWAP_POINTS
from sshd import SshServer
from workspace import FEEDS, REPO, SPEC, Workspace, clean_environment

pytestmark = requires_sshd

KEYS = {"orders": ("OrderNumber",), "order_items": ("OrderNumber", "Sku"), "customers": ("Email",), "products": ("Sku",)}
Rows = dict[str, dict[tuple[str, ...], dict[str, str]]]


def feed_of(name: str) -> str:
    return next(feed for feed, (prefix, _) in SPEC.items() if name.startswith(prefix))


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def upsert(rows: Rows, files: list[Path]) -> Rows:
    """Import files as Listrak does, in the order a pickup sees them (by name): upsert by key."""
    for path in sorted(files, key=lambda path: path.name):
        feed = feed_of(path.name)
        for row in read_rows(path):
            rows.setdefault(feed, {})[tuple(row[column] for column in KEYS[feed])] = row
    return rows


def waiting_files(remote: Path) -> list[Path]:
    return [path for path in remote.iterdir() if not path.name.startswith(".")]


def hidden(remote: Path) -> list[str]:
    return sorted(path.name for path in remote.iterdir() if path.name.startswith("."))


def config_text(destination: str) -> str:
    return (f"project_dir: {REPO}\nduckdb_path: feeds.duckdb\noutput_dir: out\nstate_dir: state\n"
            f"destination:\n{destination}")


SFTP_CONFIG = config_text("  type: sftp\n  retries: 1\n  backoff: 0\n  use_agent: false\n")


def run(workspace: Workspace, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return workspace.feeds("run", "--config", str(workspace.config), *args, env=env)


def full_export(workspace: Workspace, env: dict[str, str]) -> Rows:
    """Every row of every mart, as the project writes it (a full export, nothing delivered)."""
    result = run(workspace, env, "--skip-build", "--no-upload", "--full", "--json")
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["run"]["run_id"]
    return upsert({}, list((workspace.out / run_id).iterdir()))


def missing_and_stale(imported: Rows, expected: Rows) -> dict[str, tuple[int, int]]:
    found = {}
    for feed, rows in expected.items():
        have = imported.get(feed, {})
        missing = sum(1 for key in rows if key not in have)
        stale = sum(1 for key, row in rows.items() if key in have and have[key] != row)
        if missing or stale:
            found[feed] = (missing, stale)
    return found


def change_marts(workspace: Workspace, tag: str) -> None:
    """Change a few rows of every mart, differently for each tag (as a build with new data would)."""
    for mart, column, key in (("listrak_orders", "ShippingMethod", "OrderNumber"),
                              ("listrak_order_items", "TrackingNumber", "Sku"),
                              ("listrak_customers", "FirstName", "Email"),
                              ("listrak_products", "Title", "Sku")):
        workspace.sql(f"""update main.{mart} set "{column}" = '{tag}' where hash("{key}" || '{tag}') % 15 = 0""")


class Holder:
    """Cut the connections when a `feeds` process (or this one) holds at a fail point, then let it go on."""

    def __init__(self, proxy: CuttingProxy, folder: Path, point: str, *, refuse: bool) -> None:
        self.proxy, self.folder, self.point, self.refuse = proxy, folder, point, refuse
        folder.mkdir(parents=True, exist_ok=True)
        self.env = {ENV: point, HOLD_ENV: str(folder)}
        self.cut = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not (self.folder / self.point).exists():
            if self._stop.wait(0.01):
                return
        self.proxy.cut_all()
        self.proxy.refusing = self.refuse
        self.cut.set()
        (self.folder / f"{self.point}.done").touch()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.proxy.refusing = False


@pytest.fixture(scope="module")
def no_posix_rename(sshd_factory) -> SshServer:
    # `-P` takes sftp-server request names (sftp-server -Q requests); the extension is then not offered.
    return sshd_factory(sftp_flags=["-P", "posix-rename"])


class Setup:
    """One workspace delivering through a proxy to a server without posix-rename, files waiting."""

    def __init__(self, root: Path, server: SshServer) -> None:
        self.workspace = Workspace(root / "ws", seed=31, orders=300)
        self.workspace.config.write_text(SFTP_CONFIG, encoding="utf-8")
        self.remote = server.upload_dir / f"noloss-{root.name}"
        self.remote.mkdir()
        self.proxy = CuttingProxy(server.port)
        self.env = {**sftp_env(server, self.remote), "FEEDS_SFTP_PORT": str(self.proxy.port),
                    "FEEDS_SFTP_HOST_KEY": server.fingerprint}


@pytest.fixture(scope="module")
def swap(tmp_path_factory: pytest.TempPathFactory, no_posix_rename: SshServer) -> Iterator[Setup]:
    """The first, full delivery is done and nothing is picked up: every feed file is waiting."""
    setup = Setup(tmp_path_factory.mktemp("noloss"), no_posix_rename)
    first = run(setup.workspace, setup.env)
    assert first.returncode == 0, first.stderr
    assert sorted(feed_of(path.name) for path in waiting_files(setup.remote)) == sorted(SPEC)
    # A copy of the workspace in this state, for the tests that need their own.
    shutil.copytree(setup.workspace.root, setup.workspace.root.parent / "base")
    yield setup
    setup.proxy.close()


def interrupt_by_hand(remote: Path) -> None:
    """What a run stopped between the two renames of the replace leaves: the waiting file moved
    aside to `.NAME.old`, the new file complete as `.NAME.part`, nothing under NAME."""
    for path in waiting_files(remote):
        path.rename(remote / f".{path.name}.old")
        (remote / f".{path.name}.part").write_text("a new file that never made it\n")


CASES = [("by-hand", "rename-final"), ("kill", "rename"), *[("kill", point) for point in SWAP_POINTS],
         ("kill", "commit"), *[("cut", point) for point in SWAP_POINTS]]


@pytest.mark.parametrize(("way", "point"), CASES, ids=[f"{way}-{point}" for way, point in CASES])
def test_swap_interrupted_at_each_step_loses_no_row(swap: Setup, tmp_path: Path, way: str, point: str) -> None:
    """SIGKILL, or a cut with every retry failing, at each step of the fallback replace; then the
    next run. Between them nothing is picked up, so the file waiting before must not be lost."""
    workspace, remote, env = swap.workspace, swap.remote, swap.env
    change_marts(workspace, f"{way}-{point}")
    finals = {path.name for path in waiting_files(remote)}
    assert len(finals) == 4, "each case starts with every feed file waiting (the last case's)"

    if way == "by-hand":
        interrupt_by_hand(remote)
    elif way == "kill":
        killed = run(workspace, {**env, ENV: point}, "--skip-build")
        assert killed.returncode == -9, f"the run was not killed at {point}: {killed.stderr}"
    else:
        holder = Holder(swap.proxy, tmp_path / "hold", point, refuse=True)
        try:
            cut = run(workspace, {**env, **holder.env}, "--skip-build")
        finally:
            holder.stop()
        assert holder.cut.is_set(), f"the run never reached {point}: {cut.stderr}"
        assert cut.returncode == 3, cut.stderr
        assert "gave up after 2 attempts" in cut.stderr
    left = hidden(remote)
    if point == "rename-final":
        # The state the issue is about: the waiting file only under `.NAME.old`.
        assert any(name.endswith(".old") and name[1:-4] not in {p.name for p in waiting_files(remote)}
                   for name in left), left
    if point == "remove-old":
        assert any(name.endswith(".old") for name in left), left

    recovery = run(workspace, env, "--skip-build", "--json")
    assert recovery.returncode == 0, recovery.stderr
    assert hidden(remote) == [], "leftover temporaries not removed"
    assert {path.name for path in waiting_files(remote)} == finals

    imported = upsert({}, waiting_files(remote))  # the importer takes every waiting file now
    assert missing_and_stale(imported, full_export(workspace, env)) == {}, f"rows lost after {way} at {point}"
    # The state agrees: nothing is still owed, so a further run sends no changed row.
    record = json.loads(run(workspace, env, "--skip-build", "--json").stdout)["run"]
    assert {name: entry["changed_rows"] for name, entry in record["feeds"].items() if entry["mode"] == "delta"} == {
        "orders": 0, "order_items": 0, "customers": 0}
