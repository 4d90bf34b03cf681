"""Delta feeds, safety gates, the run lock and crash safety, end to end: `feeds run` as a subprocess
delivering to a real OpenSSH sshd on loopback, on demo data, with a real dbt build."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from conftest_sftp import *  # noqa: F401,F403  the sshd fixtures
from conftest_sftp import sftp_env
from runner.faults import POINTS
from sshd import SshServer
from workspace import MARTS, SPEC, Workspace

KEYS = {"orders": ("OrderNumber",), "order_items": ("OrderNumber", "Sku"), "customers": ("Email",), "products": ("Sku",)}
PREFIX_TO_FEED = {prefix: feed for feed, (prefix, _) in SPEC.items()}


def feed_of(name: str) -> str:
    return next(feed for prefix, feed in PREFIX_TO_FEED.items() if name.startswith(prefix))


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def keys(feed: str, rows: list[dict[str, str]]) -> set[tuple[str, ...]]:
    return {tuple(row[column] for column in KEYS[feed]) for row in rows}


def waiting(remote: Path) -> dict[str, list[dict[str, str]]]:
    """The feed files now waiting in the remote directory, by feed (hidden temporaries excluded)."""
    return {feed_of(path.name): read_rows(path) for path in sorted(remote.iterdir()) if not path.name.startswith(".")}


def pick_up(remote: Path) -> dict[str, list[dict[str, str]]]:
    """Do what Listrak's importer does: take every waiting file away."""
    files = waiting(remote)
    for path in remote.iterdir():
        if not path.name.startswith("."):
            path.unlink()
    return files


def snapshot_marts(workspace: Workspace) -> None:
    workspace.sql("create schema if not exists snap")
    for feed, mart in MARTS.items():
        workspace.sql(f"create or replace table snap.{feed} as select * from main.{mart}")


def changed_keys(workspace: Workspace, feed: str) -> set[tuple[str, ...]]:
    """Keys of mart rows that are new or different since the snapshot, compared as text like the file."""
    columns = ", ".join(f'cast("{column}" as varchar) as "{column}"' for column in KEYS[feed])
    # The feed's columns only: an incremental mart also keeps internal ones (its entity, built_at),
    # which change when a build rewrites a row whose values stay the same.
    fields = ", ".join(f'"{column}"' for column in SPEC[feed][1])
    rows = workspace.sql(
        f"select {columns} from (select {fields} from main.{MARTS[feed]} except select {fields} from snap.{feed})"
    )
    return {tuple("" if value is None else value for value in row) for row in rows}


def change_raw_data(workspace: Workspace) -> dict[str, str]:
    """Change one order, one fulfillment (of another order) and one product in the raw tables."""
    (order_id, order_name) = workspace.sql(
        """select o.id, o.name from shopify."order" as o join main.listrak_orders as m on m."OrderNumber" = o.name
           order by o.id limit 1"""
    )[0]
    workspace.sql(f'update shopify."order" set total_price = total_price + 1 where id = {order_id}')
    (fulfillment_id, fulfilled_name) = workspace.sql(
        f"""select f.id, o.name from shopify.fulfillment as f
            join shopify."order" as o on o.id = f.order_id
            join main.listrak_orders as m on m."OrderNumber" = o.name
            where f.status = 'success' and o.id <> {order_id}
              and 1 = (select count(*) from shopify.fulfillment as g where g.order_id = f.order_id)
            order by f.id limit 1"""
    )[0]
    workspace.sql(f"update shopify.fulfillment set tracking_number = 'TRACK-CHANGED-1' where id = {fulfillment_id}")
    (product_id,) = workspace.sql(
        """select p.id from shopify.product as p join shopify.product_variant as v on v.product_id = p.id
           join main.listrak_products as m on m."Sku" = v.sku order by p.id limit 1"""
    )[0]
    workspace.sql(f"update shopify.product set title = 'Changed title' where id = {product_id}")
    return {"order": order_name, "fulfilled": fulfilled_name}


@pytest.fixture
def remote(sshd: SshServer, tmp_path: Path) -> Path:
    path = sshd.upload_dir / f"delta-{tmp_path.name}"
    path.mkdir()
    return path


def run(workspace: Workspace, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return workspace.feeds("run", "--config", str(workspace.config), *args, env=env)


def test_first_full_then_empty_then_exactly_the_changed_rows(tmp_path: Path, sshd: SshServer, remote: Path) -> None:
    workspace = Workspace(tmp_path / "ws", seed=21)
    env = sftp_env(sshd, remote)

    first = run(workspace, env, "--json")
    assert first.returncode == 0, first.stderr
    files = pick_up(remote)
    assert sorted(files) == sorted(SPEC)
    for feed, mart in MARTS.items():
        assert len(files[feed]) == workspace.sql(f"select count(*) from main.{mart}")[0][0] > 0
    record = json.loads(first.stdout)["run"]
    assert {name: entry["mode"] for name, entry in record["feeds"].items()} == {
        "orders": "delta", "order_items": "delta", "customers": "delta", "products": "full"}
    assert all(entry["state_committed"] for entry in record["feeds"].values())
    snapshot_marts(workspace)

    second = run(workspace, env)
    assert second.returncode == 0, second.stderr
    files = pick_up(remote)
    for feed in ("orders", "order_items", "customers"):
        assert files[feed] == [], feed  # header only
        path = next(p for p in (tmp_path / "ws" / "out").rglob(f"{SPEC[feed][0]}*"))
        assert path.read_text(encoding="utf-8").splitlines()[0].split(",") == SPEC[feed][1]
    assert len(files["products"]) == workspace.sql("select count(*) from main.listrak_products")[0][0]

    names = change_raw_data(workspace)
    third = run(workspace, env)
    assert third.returncode == 0, third.stderr
    files = pick_up(remote)
    for feed in ("orders", "order_items", "customers"):
        assert keys(feed, files[feed]) == changed_keys(workspace, feed), feed
    assert keys("orders", files["orders"]) == {(names["order"],), (names["fulfilled"],)}
    assert {row["OrderNumber"] for row in files["order_items"]} == {names["fulfilled"]}
    assert all(row["TrackingNumber"] == "TRACK-CHANGED-1" for row in files["order_items"])
    assert any(row["Title"].startswith("Changed title") for row in files["products"])


def test_a_file_still_waiting_is_replaced_by_a_superset(tmp_path: Path, sshd: SshServer, remote: Path) -> None:
    workspace = Workspace(tmp_path / "ws", seed=22)
    env = sftp_env(sshd, remote)
    assert run(workspace, env).returncode == 0
    first = waiting(remote)  # nothing is picked up between the runs
    snapshot_marts(workspace)
    names = change_raw_data(workspace)

    second = run(workspace, env, "--json")
    assert second.returncode == 0, second.stderr
    now = waiting(remote)
    for feed in ("orders", "order_items", "customers"):
        assert keys(feed, now[feed]) >= keys(feed, first[feed]), f"{feed}: rows of the waiting file were lost"
        assert keys(feed, now[feed]) >= changed_keys(workspace, feed)
    assert (names["order"],) in keys("orders", now["orders"])
    record = json.loads(second.stdout)["run"]["feeds"]["orders"]
    assert record["changed_rows"] == 2 and record["carried_rows"] == record["rows"] - 2 > 0

    # Still not picked up: a third file replaces the second and must carry every row of both.
    third = run(workspace, env, "--skip-build", "--json")
    assert third.returncode == 0, third.stderr
    for feed in ("orders", "order_items", "customers"):
        assert keys(feed, waiting(remote)[feed]) == keys(feed, now[feed]), feed
    assert json.loads(third.stdout)["run"]["feeds"]["orders"]["changed_rows"] == 0

    # Once the importer has taken the file, the next delta carries nothing old.
    pick_up(remote)
    fourth = run(workspace, env, "--skip-build")
    assert fourth.returncode == 0, fourth.stderr
    assert waiting(remote)["orders"] == []


def test_gates_refuse_a_shrunk_full_feed_and_a_lost_state(tmp_path: Path, sshd: SshServer, remote: Path) -> None:
    workspace = Workspace(tmp_path / "ws", seed=23)
    env = sftp_env(sshd, remote)
    assert run(workspace, env).returncode == 0
    pick_up(remote)

    workspace.sql("update shopify.product set _fivetran_deleted = true where id % 2 = 0")
    refused = run(workspace, env, "--json")
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "products" in refused.stderr and "max_shrink" in refused.stderr
    assert list(remote.iterdir()) == []
    run_id = json.loads(refused.stdout)["run"]["run_id"]
    assert not (tmp_path / "ws" / "out" / run_id).exists(), "a refused run must not export files"

    forced = run(workspace, env, "--force", "--skip-build", "--json")
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["run"]["gates"]["forced"] is True
    assert sorted(waiting(remote)) == sorted(SPEC)
    pick_up(remote)

    # Losing the delivery state makes every row look new: refused as a delta.
    with duckdb.connect(str(tmp_path / "ws" / "state" / "state.duckdb")) as connection:
        connection.execute("delete from delivered_rows where feed = 'orders'")
    lost = run(workspace, env, "--skip-build")
    assert lost.returncode == 4
    assert "orders" in lost.stderr and "max_delta_share" in lost.stderr
    assert list(remote.iterdir()) == []


def test_overlapping_runs_cannot_both_deliver(tmp_path: Path, sshd: SshServer, remote: Path) -> None:
    workspace = Workspace(tmp_path / "ws", seed=24)
    env = sftp_env(sshd, remote)
    assert run(workspace, env).returncode == 0
    pick_up(remote)
    import fcntl

    lock = tmp_path / "ws" / "state" / "run.lock"
    with open(lock, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        blocked = run(workspace, env, "--skip-build")
    assert blocked.returncode == 4
    assert "another feeds run" in blocked.stderr
    assert list(remote.iterdir()) == []


@pytest.fixture(scope="module")
def crash_base(tmp_path_factory: pytest.TempPathFactory, sshd: SshServer) -> Path:
    """A workspace whose first full delivery is done and picked up, with raw changes not yet sent."""
    root = tmp_path_factory.mktemp("crash-base")
    workspace = Workspace(root / "ws", seed=25, orders=300)
    remote = sshd.upload_dir / f"crash-base-{root.name}"
    remote.mkdir()
    assert run(workspace, sftp_env(sshd, remote)).returncode == 0
    pick_up(remote)
    snapshot_marts(workspace)
    change_raw_data(workspace)
    return root / "ws"


@pytest.mark.parametrize("point", POINTS)
def test_a_run_killed_at_any_point_loses_nothing(point: str, crash_base: Path, tmp_path: Path, sshd: SshServer) -> None:
    shutil.copytree(crash_base, tmp_path / "ws")
    workspace = Workspace.existing(tmp_path / "ws")
    remote = sshd.upload_dir / f"crash-{point}-{tmp_path.name}"
    remote.mkdir()
    env = sftp_env(sshd, remote)

    killed = workspace.feeds("run", "--config", str(workspace.config), env={**env, "FEEDS_FAILPOINT": point})
    assert killed.returncode == -9, f"the run was not killed at {point}: {killed.stderr}"
    exported = {hashlib.sha256(path.read_bytes()).hexdigest() for path in (tmp_path / "ws" / "out").rglob("*.csv")}
    for path in remote.iterdir():
        if not path.name.startswith("."):
            # Whatever carries a final name is a whole file this run exported, never a partial one.
            assert hashlib.sha256(path.read_bytes()).hexdigest() in exported, path.name
    delivered_before = pick_up(remote)

    recovery = run(workspace, env)
    assert recovery.returncode == 0, recovery.stderr
    assert "taking the lock over" in recovery.stderr
    delivered_after = pick_up(remote)
    assert [path.name for path in remote.iterdir()] == [], "temporary files left behind"
    for feed in ("orders", "order_items", "customers"):
        sent = keys(feed, delivered_before.get(feed, [])) | keys(feed, delivered_after.get(feed, []))
        assert changed_keys(workspace, feed) <= sent, f"{feed}: changed rows skipped after a kill at {point}"
    assert changed_keys(workspace, "orders"), "the raw change must reach the orders mart"

    # The state is complete again: a further run has nothing new to send.
    time.sleep(0)
    quiet = run(workspace, env, "--skip-build")
    assert quiet.returncode == 0, quiet.stderr
    files = pick_up(remote)
    assert all(files[feed] == [] for feed in ("orders", "order_items", "customers"))


# -- Fingerprints only for rows a build rewrote (runner.warehouse.state, delivered_builds) ----------


#: Per entity, rows that never reach a mart: synced last, they hold the watermarks.
OUTSIDE_THE_FEEDS = {"order": "test", "customer": "_fivetran_deleted", "product": "_fivetran_deleted"}


def age_store(workspace: Workspace) -> None:
    """As bench/incremental.py's age(): raw rows synced a day ago, then one order, customer and
    product synced now (without it every row stays inside the lookback window and each build
    rebuilds every model whole). Here those three are a test order without a customer, a deleted
    customer and a deleted product, so an unchanged store's build, which recomputes the lookback
    window's entities, rewrites no mart row."""
    tables = [row[0] for row in workspace.sql(
        "select table_name from information_schema.columns where table_schema = 'shopify' "
        "and column_name = '_fivetran_synced'")]
    for table in tables:
        workspace.sql(f'update shopify."{table}" set _fivetran_synced = _fivetran_synced - interval 1 day')
    # Its customer would be recomputed with it.
    workspace.sql('update shopify."order" set customer_id = null, email = null '
                  'where id = (select min(id) from shopify."order" where test)')
    for entity, flag in OUTSIDE_THE_FEEDS.items():
        workspace.sql(f'update shopify."{entity}" set _fivetran_synced = now()::timestamp '
                      f'where id = (select min(id) from shopify."{entity}" where {flag})')


def local_run(workspace: Workspace, *args: str, env: dict[str, str] | None = None) -> dict:
    """`feeds run` to the workspace's local destination, then the importer takes every file; the record."""
    result = workspace.feeds("run", "--json", *args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    shutil.rmtree(workspace.delivered, ignore_errors=True)
    return json.loads(result.stdout)["run"]


def sent_lines(workspace: Workspace, record: dict) -> dict[str, list[str]]:
    """The data lines of each delta feed's file of a run, sorted."""
    return {
        name: sorted(Path(entry["local_path"]).read_text(encoding="utf-8").splitlines()[1:])
        for name, entry in record["feeds"].items() if entry["mode"] == "delta"
    }


DELTA_FEEDS = ("orders", "order_items", "customers")


@pytest.fixture(scope="module")
def scoped(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An aged store delivered, then run twice unchanged (the third run's record), copied as `quiet`;
    then one order changed and built (`feeds build`), not delivered. A copied workspace runs with
    --skip-build only: a build in another DuckDB path would rebuild every model whole."""
    root = tmp_path_factory.mktemp("scoped")
    workspace = Workspace(root / "ws", orders=300, seed=27)
    age_store(workspace)
    first = local_run(workspace)
    for name, entry in first["feeds"].items():
        # The first delivery of a feed hashes every row.
        assert entry["fingerprinted_rows"] == entry["total_rows"] > 0, name
    local_run(workspace)  # the first incremental build rewrites the lookback window's few rows
    unchanged = local_run(workspace)
    shutil.copytree(root / "ws", root / "quiet")

    snapshot_marts(workspace)
    (order,) = workspace.sql('select min(id) from shopify."order" where not coalesce(test, false)')[0]
    workspace.sql(f'update shopify."order" set total_price = total_price + 1, _fivetran_synced = now()::timestamp '
                  f"where id = {order}")
    build = workspace.feeds("build")
    assert build.returncode == 0, build.stdout + build.stderr
    changed = {feed: changed_keys(workspace, feed) for feed in DELTA_FEEDS}
    assert changed["orders"], "the raw change must reach the orders mart"
    return {"root": root, "unchanged": unchanged, "changed": changed}


def copy(scoped: dict, name: str, to: Path) -> Workspace:
    shutil.copytree(scoped["root"] / name, to)
    return Workspace.existing(to)


def test_an_unchanged_store_fingerprints_nothing(scoped: dict) -> None:
    record = scoped["unchanged"]
    for name in DELTA_FEEDS:
        entry = record["feeds"][name]
        assert (entry["fingerprinted_rows"], entry["changed_rows"], entry["rows"]) == (0, 0, 0), name
        assert entry["total_rows"] > 0
    # The full feed hashes every row at its commit, as before.
    assert record["feeds"]["products"]["fingerprinted_rows"] == record["feeds"]["products"]["total_rows"]


def test_a_change_fingerprints_the_rewritten_rows_and_sends_what_a_full_hash_sends(
    scoped: dict, tmp_path: Path
) -> None:
    workspace = copy(scoped, "ws", tmp_path / "ws")
    # The same marts and state with delivered_builds emptied: every row is hashed, as before them.
    everything = copy(scoped, "ws", tmp_path / "full")
    with duckdb.connect(str(everything.root / "state" / "state.duckdb")) as connection:
        connection.execute("delete from delivered_builds")

    # A delivery that dies before its commit leaves delivered_builds where it was.
    killed = workspace.feeds("run", "--skip-build", env={"FEEDS_FAILPOINT": "commit"})
    assert killed.returncode == -9, killed.stderr
    shutil.rmtree(workspace.delivered, ignore_errors=True)  # picked up by the importer

    scoped_run = local_run(workspace, "--skip-build")
    hashed_all = local_run(everything, "--skip-build")
    assert sent_lines(workspace, scoped_run) == sent_lines(everything, hashed_all)
    for name in DELTA_FEEDS:
        entry, full = scoped_run["feeds"][name], hashed_all["feeds"][name]
        assert keys(name, read_rows(Path(entry["local_path"]))) == scoped["changed"][name], name
        assert full["fingerprinted_rows"] == full["total_rows"], name
        assert entry["changed_rows"] == full["changed_rows"] == len(scoped["changed"][name]), name
        # Only the rows the build rewrote: the changed order's (its lines, its customer).
        assert entry["fingerprinted_rows"] < 10, (name, entry["fingerprinted_rows"])
        assert entry["fingerprinted_rows"] >= entry["changed_rows"], name
    assert scoped_run["feeds"]["orders"]["fingerprinted_rows"] >= 1

    again = local_run(workspace, "--skip-build")
    assert [again["feeds"][name]["fingerprinted_rows"] for name in DELTA_FEEDS] == [0, 0, 0]
    assert [again["feeds"][name]["rows"] for name in DELTA_FEEDS] == [0, 0, 0]


def test_rows_of_a_build_older_than_the_delivered_ones_are_compared(scoped: dict, tmp_path: Path) -> None:
    """A clock stepped back: a build whose built_at is older than every delivered one."""
    workspace = copy(scoped, "quiet", tmp_path / "ws")
    (oldest,) = workspace.sql("select min(built_at) from main.listrak_orders")[0]
    picked = [row[0] for row in workspace.sql(
        'select "OrderNumber" from main.listrak_orders order by "OrderNumber" limit 3')]
    listed = ", ".join(f"'{number}'" for number in picked)
    workspace.sql(f"""update main.listrak_orders
        set "TrackingNumber" = 'REWRITTEN-' || "OrderNumber", built_at = timestamp '{oldest}' - interval 1 hour
        where "OrderNumber" in ({listed})""")
    record = local_run(workspace, "--skip-build")
    entry = record["feeds"]["orders"]
    assert (entry["fingerprinted_rows"], entry["changed_rows"], entry["rows"]) == (3, 3, 3)
    rows = read_rows(Path(entry["local_path"]))
    assert {row["OrderNumber"]: row["TrackingNumber"] for row in rows} == {
        number: f"REWRITTEN-{number}" for number in picked}
