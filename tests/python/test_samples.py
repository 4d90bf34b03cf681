"""`feeds sample`: onboarding samples that are varied, consistent across the four files, valid, named
so Listrak does not import them, and that never move the delta state."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from conftest_sftp import *  # noqa: F401,F403  (fixtures)
from conftest_sftp import requires_sshd, sftp_env
from workspace import SPEC, Workspace

ROWS = 60


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _state(workspace: Workspace) -> list[tuple]:
    """Every row of every table of the delivery state."""
    path = workspace.root / "state" / "state.duckdb"
    with duckdb.connect(str(path), read_only=True) as connection:
        tables = [row[0] for row in connection.execute("select table_name from duckdb_tables() order by 1").fetchall()]
        return [(table, sorted(map(repr, connection.execute(f'select * from "{table}"').fetchall()))) for table in tables]


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict, dict[str, Path]]:
    """One workspace: `feeds sample` (which builds the marts) before any run, its record and files."""
    workspace = Workspace(tmp_path_factory.mktemp("samples") / "ws", orders=300, seed=41)
    done = workspace.feeds("sample", "--rows", str(ROWS), "--json")
    assert done.returncode == 0, done.stderr + done.stdout
    record = json.loads(done.stdout)["run"]
    files = {name: Path(entry["local_path"]) for name, entry in record["feeds"].items()}
    return workspace, record, files


def test_sample_builds_and_delivers_four_files_under_names_listrak_does_not_import(sampled) -> None:
    workspace, record, files = sampled
    assert record["command"] == "sample" and record["dbt"]["success"]
    delivered = sorted(path.name for path in workspace.files(workspace.delivered))
    assert len(delivered) == 4 and all(name.startswith("Sample_") for name in delivered), delivered
    for name, (prefix, header) in SPEC.items():
        assert files[name].name.startswith("Sample_" + prefix)
        assert record["feeds"][name]["status"] == "delivered"
        rows = _read(files[name])
        assert list(rows[0]) == header and 0 < len(rows) <= ROWS, (name, len(rows))
    # Never the delta state: a sample before any run leaves no state at all.
    assert not (workspace.root / "state" / "state.duckdb").exists()


def test_sample_files_are_consistent_with_one_another(sampled) -> None:
    workspace, _, files = sampled
    orders, items = _read(files["orders"]), _read(files["order_items"])
    customers, products = _read(files["customers"]), _read(files["products"])
    numbers = {row["OrderNumber"] for row in orders}
    assert {row["OrderNumber"] for row in items} <= numbers
    # Every line of every sampled order: no order is cut.
    per_order = dict(workspace.sql(
        'select "OrderNumber", count(*) from listrak_order_items group by all'
    ))
    sampled_lines: dict[str, int] = {}
    for row in items:
        sampled_lines[row["OrderNumber"]] = sampled_lines.get(row["OrderNumber"], 0) + 1
    assert {number: per_order.get(number, 0) for number in numbers if per_order.get(number)} == sampled_lines
    # Customers are those of the orders (plus at most one of a kind the orders lack); products those
    # of the lines (plus at most one per missing kind).
    order_emails = {row["Email"] for row in orders}
    assert len([row for row in customers if row["Email"] not in order_emails]) <= 1
    mart_emails = {email for (email,) in workspace.sql('select "Email" from listrak_customers')}
    assert order_emails & mart_emails <= {row["Email"] for row in customers}
    skus = {row["Sku"] for row in products}
    mart_skus = {sku for (sku,) in workspace.sql('select "Sku" from listrak_products')}
    assert {row["Sku"] for row in items} & mart_skus <= skus
    assert len(skus - {row["Sku"] for row in items}) <= 4


def test_sample_covers_the_variety_of_the_marts(sampled) -> None:
    workspace, record, files = sampled
    orders, customers, products = _read(files["orders"]), _read(files["customers"]), _read(files["products"])
    statuses = {str(status) for (status,) in workspace.sql('select distinct "Status" from listrak_orders')}
    assert len(statuses) >= 3 and {row["Status"] for row in orders} == statuses
    assert {bool(row["CouponCode"]) for row in orders} == {True, False}
    assert {row["Registered"] for row in customers} == {"True", "False"}
    assert {float(row["SalePrice"]) < float(row["Price"]) for row in products} == {True, False}
    with_image = {bool(url) for (url,) in workspace.sql('select "ImageUrl" from listrak_products')}
    assert {bool(row["ImageUrl"]) for row in products} == with_image
    traits = record["sample"]["traits"]
    assert all(traits[f"order status {status}"] == "sampled" for status in statuses)
    assert traits["guest customer"] == traits["registered customer"] == "sampled"
    # The marts quarantine products without an image (ImageUrl is required): said, not hidden.
    assert traits["product without an image"] == ("sampled" if False in with_image else "none in marts")


def test_each_sample_file_passes_feeds_validate(sampled) -> None:
    workspace, _, files = sampled
    for name, path in files.items():
        # No --feed: the feed is told from the name without its sample prefix.
        done = workspace.feeds("validate", str(path))
        assert done.returncode == 0, (name, done.stdout, done.stderr)
        assert f"meets the {name} feed contract" in done.stdout


def test_sample_after_runs_leaves_the_state_alone_and_goes_to_samples_dir(sampled) -> None:
    workspace, _, _ = sampled
    done = workspace.feeds("run", "--skip-build")
    assert done.returncode == 0, done.stderr
    before = _state(workspace)
    delivered_before = sorted(path.name for path in workspace.files(workspace.delivered))
    workspace.config.write_text(
        workspace.config.read_text(encoding="utf-8")
        + "sample_prefix: Try_\nsamples_dir: samples\ndefaults:\n  encoding: utf-7\n  delimiter: '|'\n",
        encoding="utf-8",
    )
    done = workspace.feeds("sample", "--skip-build", "--rows", "20", "--feeds", "orders,order_items")
    assert done.returncode == 0, done.stderr + done.stdout
    assert _state(workspace) == before
    samples = sorted(path.name for path in workspace.files(workspace.delivered / "samples"))
    assert len(samples) == 2 and all(name.startswith("Try_Listrak_Order") for name in samples), samples
    after = sorted(path.name for path in workspace.files(workspace.delivered) if path.parent == workspace.delivered)
    assert after == [name for name in delivered_before]
    # UTF-7 files, read back by `feeds validate` through the feed's configured encoding.
    for path in workspace.files(workspace.delivered / "samples"):
        assert path.read_bytes().isascii()
        check = workspace.feeds("validate", str(path))
        assert check.returncode == 0 and "utf-7" in check.stdout, check.stdout + check.stderr
    history = json.loads(workspace.feeds("history", "--json").stdout)
    assert [entry["command"] for entry in history[:3]] == ["sample", "run", "sample"]
    # `feeds upload` without files resends the last run's feed files, never a sample's.
    upload = workspace.feeds("upload", "--force", "--json")
    assert upload.returncode == 0, upload.stderr
    sent = sorted(json.loads(upload.stdout)["run"]["feeds"])
    assert len(sent) == 4 and not any(name.startswith(("Try_", "Sample_")) for name in sent), sent


def test_ascii_run_reports_dropped_characters_per_feed_and_column(sampled, tmp_path: Path) -> None:
    workspace, _, _ = sampled
    copy = Workspace(tmp_path / "ascii", generate_data=False)
    shutil.copyfile(workspace.duckdb, copy.duckdb)
    copy.config.write_text(copy.config.read_text(encoding="utf-8") + "defaults:\n  encoding: ascii\n", encoding="utf-8")
    # The demo catalogue has a few titles with an emoji (✨); one more title gets three such characters.
    before = json.loads(copy.feeds("export", "--feeds", "products", "--json").stdout)["run"]["feeds"]["products"]
    emoji = before["dropped"].get("Title", 0)
    copy.sql("""update listrak_products set "Title" = 'Café 👍 日本' where "Sku" = (select min("Sku") from listrak_products where strlen("Title") = length("Title"))""")
    done = copy.feeds("export", "--feeds", "products", "--json")
    assert done.returncode == 0, done.stderr
    entry = json.loads(done.stdout)["run"]["feeds"]["products"]
    assert entry["dropped"] == {"Title": emoji + 3}
    assert f"products: encoding ascii left out {emoji + 3} characters" in done.stderr
    data = Path(entry["local_path"]).read_bytes()
    assert data.isascii() and b"Cafe  " in data


@requires_sshd
def test_sample_goes_through_sftp_into_samples_dir(sampled, sshd, remote_dir, tmp_path: Path) -> None:
    workspace, _, _ = sampled
    copy = Workspace(tmp_path / "sftp", generate_data=False)
    shutil.copyfile(workspace.duckdb, copy.duckdb)
    copy.config.write_text(copy.config.read_text(encoding="utf-8") + "samples_dir: samples\n", encoding="utf-8")
    (remote_dir / "samples").mkdir()
    done = copy.feeds("sample", "--skip-build", "--rows", "25", "--json", env=sftp_env(sshd, remote_dir))
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)["run"]
    assert record["destination"].startswith("sftp:")
    names = sorted(path.name for path in (remote_dir / "samples").iterdir())
    assert len(names) == 4 and all(name.startswith("Sample_Listrak_") for name in names), names
    assert sorted(path.name for path in remote_dir.iterdir()) == ["samples"]
    for name, entry in record["feeds"].items():
        assert entry["remote_path"].endswith(f"/samples/{Path(entry['local_path']).name}")
        assert (remote_dir / "samples" / Path(entry["local_path"]).name).read_bytes() == Path(entry["local_path"]).read_bytes()
