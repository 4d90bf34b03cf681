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
from pathlib import Path
from typing import Iterator

import pytest

from conftest_sftp import *  # noqa: F401,F403  the sshd fixtures
from conftest_sftp import CuttingProxy, requires_sshd, sftp_env, sftp_settings
from runner.deliver import Upload
from runner.deliver.sftp.destination import SftpDestination
from runner.faults import ENV, HOLD_ENV, SWAP_POINTS
from sshd import SshServer
from workspace import REPO, SPEC, Workspace

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

    def __init__(self, proxy: CuttingProxy, folder: Path, point: str, *, refuse: bool = False,
                 mute: bool = False) -> None:
        self.proxy, self.folder, self.point, self.refuse, self.mute = proxy, folder, point, refuse, mute
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
        if self.mute:
            self.proxy.mute_all()
        else:
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


def copy_of_base(swap: Setup, root: Path, config: str = SFTP_CONFIG) -> Workspace:
    """A workspace as the first delivery left it (marts built, state committed), with `config`."""
    shutil.copytree(swap.workspace.root.parent / "base", root)
    workspace = Workspace.existing(root)  # writes its own feeds.yml
    workspace.config.write_text(config, encoding="utf-8")
    return workspace


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


@pytest.mark.parametrize("way", ["kill", "cut"])
def test_atomic_replace_interrupted_loses_no_row(swap: Setup, tmp_path: Path, sshd: SshServer, way: str) -> None:
    """The posix-rename path: stopped just before its one rename, the waiting file is intact."""
    workspace = copy_of_base(swap, tmp_path / "ws")
    remote = sshd.upload_dir / f"atomic-{tmp_path.name}"
    remote.mkdir()
    proxy = CuttingProxy(sshd.port)
    env = {**sftp_env(sshd, remote), "FEEDS_SFTP_PORT": str(proxy.port), "FEEDS_SFTP_HOST_KEY": sshd.fingerprint}
    try:
        assert run(workspace, env, "--skip-build", "--full").returncode == 0  # every row waiting
        change_marts(workspace, f"atomic-{way}")
        if way == "kill":
            assert run(workspace, {**env, ENV: "rename"}, "--skip-build").returncode == -9
        else:
            holder = Holder(proxy, tmp_path / "hold", "rename", refuse=True)
            try:
                assert run(workspace, {**env, **holder.env}, "--skip-build").returncode == 3
            finally:
                holder.stop()
        assert run(workspace, env, "--skip-build").returncode == 0
    finally:
        proxy.close()
    assert hidden(remote) == []
    imported = upsert({}, waiting_files(remote))
    assert missing_and_stale(imported, full_export(workspace, env)) == {}


# -- 2: a lost delivery state ----------------------------------------------------------------------


def test_lost_state_is_refused_while_run_records_or_the_destination_show_deliveries(
    swap: Setup, tmp_path: Path, no_posix_rename: SshServer
) -> None:
    workspace = copy_of_base(swap, tmp_path / "ws")
    remote = no_posix_rename.upload_dir / f"lost-{tmp_path.name}"
    remote.mkdir()
    env = sftp_env(no_posix_rename, remote)
    state_file = tmp_path / "ws" / "state" / "state.duckdb"

    state_file.unlink()  # the run records still say what was delivered
    refused = run(workspace, env, "--skip-build")
    assert refused.returncode == 4, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())  # the console wraps long lines
    assert str(state_file) in message and "--full" in message and "--force" in message
    assert "committed a delivery" in message and "Traceback" not in refused.stderr
    assert list(remote.iterdir()) == [], "a refused run must deliver nothing"

    # The whole state folder lost: the destination still holds a file of the orders feed.
    shutil.rmtree(tmp_path / "ws" / "state")
    (remote / "Listrak_Order_Feed_20250101.csv").write_text("OrderNumber\n", encoding="utf-8")
    refused = run(workspace, env, "--skip-build")
    assert refused.returncode == 4, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())
    assert "orders" in message and "Listrak_Order_Feed_20250101.csv" in message and "--full" in message
    assert [path.name for path in remote.iterdir()] == ["Listrak_Order_Feed_20250101.csv"]

    # `--full` re-establishes the state; the run after it is an ordinary delta again.
    assert run(workspace, env, "--skip-build", "--full").returncode == 0
    again = run(workspace, env, "--skip-build", "--json")
    assert again.returncode == 0, again.stderr
    feeds = json.loads(again.stdout)["run"]["feeds"]
    assert [feeds[name]["changed_rows"] for name in ("orders", "order_items", "customers")] == [0, 0, 0]


# -- 3: every remote operation is retried -------------------------------------------------------------


def bytes_to_open(server: SshServer, remote: Path, cutting_proxy) -> int:
    """Client-to-server bytes of a connection up to the end of `open` (its last request is the
    remote-directory lookup); the reply has come back, so every byte of it has passed the proxy."""
    proxy = cutting_proxy(server.port)
    with SftpDestination(sftp_settings(server, remote, port=proxy.port, host_key=server.fingerprint)):
        return proxy.sent[0]


@pytest.mark.parametrize("lookup", ["remote directory", "waiting file"])
def test_remote_lookups_are_retried_after_a_cut(
    sshd: SshServer, remote_dir: Path, cutting_proxy, caplog: pytest.LogCaptureFixture, lookup: str
) -> None:
    opened = bytes_to_open(sshd, remote_dir, cutting_proxy)
    assert bytes_to_open(sshd, remote_dir, cutting_proxy) == opened, "the byte counts must repeat to aim a cut"
    # One byte short of the remote-directory lookup at connect, or one byte into the waiting-file check.
    cut_at = opened - 1 if lookup == "remote directory" else opened + 1
    (remote_dir / "orders.csv").write_text("waiting\n")
    proxy = cutting_proxy(sshd.port, cuts={0: cut_at})
    settings = sftp_settings(sshd, remote_dir, port=proxy.port, host_key=sshd.fingerprint, retries=2)
    with caplog.at_level("WARNING", logger="runner.deliver.sftp"):
        with SftpDestination(settings) as destination:
            assert destination.exists("orders.csv")
            assert destination.connection_attempts == 2
    assert proxy.sent[0] == cut_at
    retried = [record.getMessage() for record in caplog.records if "retrying" in record.getMessage()]
    target = f"look up remote directory {remote_dir}" if lookup == "remote directory" else f"{remote_dir}/orders.csv"
    assert len(retried) == 1 and target in retried[0], retried


@pytest.mark.parametrize("failure", ["cut", "answer lost"])
def test_each_step_of_the_replace_is_retried_and_completes(
    no_posix_rename: SshServer, tmp_path: Path, cutting_proxy, failure: str
) -> None:
    """A cut before each step, or the server's answer to it lost (the step done, the client not told):
    the step is retried on a new connection and the replace completes, leaving nothing behind."""
    remote = no_posix_rename.upload_dir / f"retry-{tmp_path.name}"
    remote.mkdir()
    (remote / "feed.csv").write_text("old\n")
    local = tmp_path / "feed.csv"
    local.write_text("new\n" * 1000)
    proxy = cutting_proxy(no_posix_rename.port)
    settings = sftp_settings(no_posix_rename, remote, port=proxy.port, host_key=no_posix_rename.fingerprint,
                             retries=2, operation_timeout=1.0)
    for point in SWAP_POINTS:
        holder = Holder(proxy, tmp_path / point, point, mute=failure == "answer lost")
        with pytest.MonkeyPatch.context() as patch:
            for name, value in holder.env.items():
                patch.setenv(name, value)
            try:
                with SftpDestination(settings) as destination:
                    destination.deliver_one(Upload(local, "feed.csv"))
                    assert destination.connection_attempts == 2, point
            finally:
                holder.stop()
        assert holder.cut.is_set(), point
        assert sorted(path.name for path in remote.iterdir()) == ["feed.csv"], point
        assert (remote / "feed.csv").read_text() == local.read_text(), point
        (remote / "feed.csv").write_text("old\n")


# -- 4: leftover temporaries of any date --------------------------------------------------------------


LEFTOVERS = {
    ".Listrak_Order_Feed_20250101.csv.part": "removed",
    ".Listrak_Customer_20251231.csv.old": "put back",  # nothing under its name: a replace that stopped
    ".Listrak_Product_Feed_20250102.csv.old": "removed",  # its name holds the file that replaced it
}
UNRELATED = [".notes.csv.part", ".Listrak_Order_Feed_20250101.csv.partial", ".Listrak_Order_Feed_x.csv.old",
             "Listrak_Product_Feed_20250102.csv"]


@pytest.mark.parametrize("kind", ["sftp", "local"])
def test_leftovers_of_any_date_are_listed_by_check_and_removed_by_the_next_run(
    swap: Setup, tmp_path: Path, no_posix_rename: SshServer, kind: str
) -> None:
    workspace = copy_of_base(swap, tmp_path / "ws")
    if kind == "sftp":
        remote = no_posix_rename.upload_dir / f"tidy-{tmp_path.name}"
        remote.mkdir()
        env = sftp_env(no_posix_rename, remote)
    else:
        workspace.config.write_text(config_text("  type: local\n  path: delivered\n"), encoding="utf-8")
        remote = tmp_path / "ws" / "delivered"
        remote.mkdir()
        env = {}
    for name in [*LEFTOVERS, *UNRELATED]:
        (remote / name).write_text(f"{name}\n")

    check = workspace.feeds("check", "--config", str(workspace.config), env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    listed = [line for line in check.stdout.splitlines() if line.startswith("leftover")]
    assert sorted(line.split()[1].rstrip(":") for line in listed) == sorted(LEFTOVERS), check.stdout
    assert "puts it back as Listrak_Customer_20251231.csv" in check.stdout

    result = run(workspace, env, "--skip-build")
    assert result.returncode == 0, result.stderr
    names = {path.name for path in remote.iterdir()}
    assert not names & set(LEFTOVERS), names
    assert set(UNRELATED) <= names, "files that are not our temporaries of feed files must stay"
    assert (remote / "Listrak_Customer_20251231.csv").read_text() == ".Listrak_Customer_20251231.csv.old\n"


# -- a waiting file replaced after a delivery under another name ------------------------------------


def test_a_file_of_another_date_in_between_does_not_drop_the_waiting_file(swap: Setup, tmp_path: Path) -> None:
    """Today's file waits; a backfill (`--date`) delivers yesterday's; the next run replaces today's
    file, which must still carry every row of the one it replaces."""
    workspace = copy_of_base(swap, tmp_path / "ws", config_text("  type: local\n  path: delivered\n"))
    delivered = tmp_path / "ws" / "delivered"
    assert run(workspace, {}, "--skip-build", "--full").returncode == 0  # today's files, every row, waiting
    today = {path.name for path in delivered.iterdir()}
    change_marts(workspace, "backfill")
    backfill = run(workspace, {}, "--skip-build", "--date", "2025-01-01")
    assert backfill.returncode == 0, backfill.stderr
    again = run(workspace, {}, "--skip-build", "--json")
    assert again.returncode == 0, again.stderr
    assert today <= {path.name for path in delivered.iterdir()}
    imported = upsert({}, list(delivered.iterdir()))
    assert missing_and_stale(imported, full_export(workspace, {})) == {}
