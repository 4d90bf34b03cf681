"""Incremental builds (README "Incremental builds"): after raw changes, the incremental build's marts
and rejects equal a full-refresh build of the same raw data, EXCEPT empty both ways; and a changed
model definition rebuilds that model whole, recorded as such in the run record.

One workspace, three builds in it (first, step A, step B), each compared with a full-refresh build
of a copy. Every case changes its own orders, customers and products (disjoint keys), so one build
covers them all."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import run_dbt
from workspace import REPO, Workspace

from runner.warehouse.demo import generate

AS_OF = datetime(2026, 1, 15, 12, 0, 0)
#: Raw rows start synced two days back, the newest order, customer and product a day back, so the
#: first build's watermarks are AS_OF - 1 day and step A (synced at AS_OF) recomputes only its own
#: rows: the rest is older than the watermark minus the 3 h lookback.
INITIAL = AS_OF - timedelta(days=2)
STEP_A = AS_OF
STEP_B = AS_OF + timedelta(hours=10)
#: Before step A's watermark (AS_OF) but inside the lookback: a row the connector landed late.
LATE = AS_OF - timedelta(hours=1)

COMPARED = [
    "listrak_orders", "listrak_order_items", "listrak_customers", "listrak_products",
    "listrak_orders_rejects", "listrak_order_items_rejects", "listrak_customers_rejects",
    "listrak_products_rejects",
]
#: The compared columns: all but the bookkeeping of an incremental table (the watermark its build
#: saw, which a full build sets to the newest sync, when it was built, and the always-false
#: tombstone flag).
DATA = "* exclude (synced_watermark, built_at, is_tombstone)"
CHILD_TABLES = ["order_line", "fulfillment", "refund", "order_line_refund", "order_shipping_line",
                "order_discount_code", "product_variant", "product_media", "media_image", "collection_product",
                "product_tag"]

# Real orders with an e-mail, a zip, >= 2 lines and a shipping line, by position: case -> offset.
ORDER_CASES = {
    "deleted": 0, "test": 1, "quarantined": 2, "line_deleted": 3, "line_changed": 4, "fulfillment": 5,
    "refund": 6, "shipping": 7, "discount": 8, "email_moved": 9, "late_fulfillment": 10, "late_refund": 11,
    "undeleted": 12,
}


def order_id(space: Workspace, case: str) -> int:
    (found,) = space.sql(f"""
        select id from shopify."order" as o
        where not coalesce(test, false) and email is not null and billing_address_zip is not null
          and (select count(*) from shopify.order_line as l where l.order_id = o.id) >= 2
          and exists (select 1 from shopify.order_shipping_line as s where s.order_id = o.id)
        order by id limit 1 offset {ORDER_CASES[case] * 7}""")[0]
    return int(found)


def customer_with(space: Workspace, shared: bool, offset: int) -> int:
    """A live customer whose e-mail another record shares (or not), one per offset."""
    (found,) = space.sql(f"""
        select id from shopify.customer as c
        where not coalesce(_fivetran_deleted, false) and email is not null
          and (select count(*) from shopify.customer as d where d.email = c.email) {'>' if shared else '='} 1
        order by id limit 1 offset {offset}""")[0]
    return int(found)


def variant_with(space: Workspace, offset: int) -> tuple[int, int]:
    """(variant id, product id) of a variant of a live product, one product per offset."""
    return space.sql(f"""
        select min(v.id), v.product_id from shopify.product_variant as v
        inner join shopify.product as p on p.id = v.product_id
        where p.status = 'active' and not coalesce(p._fivetran_deleted, false) and v.sku is not null
        group by v.product_id order by v.product_id limit 1 offset {offset}""")[0]


def differences(space: Workspace, reference: Path) -> dict[str, int]:
    """Rows of each compared model in one build and not the other (EXCEPT ALL both ways)."""
    found = {}
    with duckdb.connect(str(space.duckdb)) as connection:
        connection.execute(f"attach '{reference}' as reference (read_only)")
        for model in COMPARED:
            (count,) = connection.execute(f"""
                select count(*) from (
                    (select {DATA} from main.{model} except all select {DATA} from reference.main.{model})
                    union all
                    (select {DATA} from reference.main.{model} except all select {DATA} from main.{model})
                )""").fetchone()
            if count:
                found[model] = count
    return found


def build(space: Workspace, *args: str) -> dict:
    """`feeds run` without delivery (no unit tests, as scheduled runs): the run record's dbt section."""
    result = space.feeds("run", "--no-upload", "--json", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)["run"]["dbt"]


def assert_same_as_full_refresh(space: Workspace, tmp_path: Path, step: str) -> None:
    copy = Workspace(tmp_path / f"full_{step}", generate_data=False)
    shutil.copy(space.duckdb, copy.duckdb)
    build(copy, "--full-refresh")
    assert differences(space, copy.duckdb) == {}


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("incremental")
    space = Workspace(root / "space", generate_data=False)
    generate(space.duckdb, orders=600, seed=11, as_of=AS_OF)
    for table in ["order", "customer", "product", "shop", "collection", *CHILD_TABLES]:
        space.sql(f"update shopify.\"{table}\" set _fivetran_synced = '{INITIAL}'")
    for table in CHILD_TABLES:
        space.sql(f"alter table shopify.{table} add column if not exists _fivetran_deleted boolean default false")
    for table in ["order", "customer", "product"]:
        space.sql(f"""update shopify."{table}" set _fivetran_synced = '{AS_OF - timedelta(days=1)}'
                      where id = (select max(id) from shopify."{table}")""")
    first = build(space)
    assert {entry["mode"] for entry in first["incremental"].values()} == {"full"}
    assert first["kept_views"] == []
    space.first_build = first  # type: ignore[attr-defined]
    return space


def test_incremental_builds_equal_full_refresh_builds(space: Workspace, tmp_path: Path) -> None:
    orders = {case: order_id(space, case) for case in ORDER_CASES}
    assert len(set(orders.values())) == len(orders)
    shared, shared_other = customer_with(space, True, 0), customer_with(space, True, 5)
    unique, deleted_customer = customer_with(space, False, 0), customer_with(space, False, 1)
    (renamed_variant, _), (_, changed_product) = variant_with(space, 0), variant_with(space, 1)
    (_, tagged_product), (_, imaged_product) = variant_with(space, 2), variant_with(space, 3)
    (moved_variant, _), (_, target_product) = variant_with(space, 4), variant_with(space, 5)
    line = "(select min(id) from shopify.order_line where order_id = {})"
    a = f"_fivetran_synced = '{STEP_A}'"
    (original_email,) = space.sql(f"""select email from shopify."order" where id = {orders['quarantined']}""")[0]

    # Step A: one change per case, synced at AS_OF.
    space.sql(f"""
        update shopify."order" set _fivetran_deleted = true, {a} where id = {orders['deleted']};
        update shopify."order" set _fivetran_deleted = true, {a} where id = {orders['undeleted']};
        update shopify."order" set test = true, {a} where id = {orders['test']};
        update shopify."order" set email = 'not an e-mail', {a} where id = {orders['quarantined']};
        update shopify."order" set email = 'moved.order@example.com', {a} where id = {orders['email_moved']};
        update shopify.order_line set _fivetran_deleted = true, {a} where id = {line.format(orders['line_deleted'])};
        update shopify.order_line set quantity = quantity + 2, {a} where id = {line.format(orders['line_changed'])};
        insert into shopify.fulfillment (id, order_id, status, created_at, tracking_company, tracking_number, _fivetran_synced)
            values (9100000000001, {orders['fulfillment']}, 'success', '{STEP_A}', 'UPS', 'NEW-TRACK-1', '{STEP_A}');
        insert into shopify.refund (id, order_id, created_at, _fivetran_synced)
            values (9200000000001, {orders['refund']}, '{STEP_A}', '{STEP_A}');
        insert into shopify.order_line_refund (id, refund_id, order_line_id, quantity, restock_type, _fivetran_synced)
            values (9300000000001, 9200000000001, {line.format(orders['refund'])}, 1, 'return', '{STEP_A}');
        update shopify.order_shipping_line set title = 'Changed Method', price = price + 1, {a}
            where order_id = {orders['shipping']};
        insert into shopify.order_discount_code (order_id, index, code, amount, type, _fivetran_synced)
            values ({orders['discount']}, 9, 'NEWCODE', 1, 'fixed_amount', '{STEP_A}');
        update shopify.customer set email = 'moved.shared@example.com', {a} where id = {shared};
        update shopify.customer set email = 'moved.unique@example.com', {a} where id = {unique};
        update shopify.customer set _fivetran_deleted = true, {a} where id = {deleted_customer};
        update shopify.product_variant set sku = sku || '-RENAMED', {a} where id = {renamed_variant};
        update shopify.product set title = 'Changed Title', {a} where id = {changed_product};
        insert into shopify.product_tag (product_id, index, value, _fivetran_synced)
            values ({tagged_product}, 99, 'clearance', '{STEP_A}');
        update shopify.media_image set image_url = 'https://cdn.example.com/changed.jpg', {a}
            where media_id in (select media_id from shopify.product_media where product_id = {imaged_product});
        update shopify.product_variant set product_id = {target_product}, {a} where id = {moved_variant};
        update shopify.collection set title = 'Changed Collection', handle = 'changed-collection', {a}
            where id = (select min(collection_id) from shopify.collection_product);
        update shopify.collection_product set _fivetran_deleted = true, {a}
            where product_id = (select max(product_id) from shopify.collection_product);
        update shopify.product_media set _fivetran_deleted = true, {a}
            where media_id = (select max(media_id) from shopify.product_media);
    """)
    step_a = build(space)
    modes = {name: entry["mode"] for name, entry in step_a["incremental"].items()}
    assert set(modes.values()) == {"incremental"}, modes
    # Incremental indeed: untouched orders keep the first build's watermark.
    assert space.sql("select count(distinct synced_watermark) from main.int_orders_prepared") == [(2,)]
    assert_same_as_full_refresh(space, tmp_path, "a")

    # Step B: rows valid again, late rows inside the lookback, an e-mail moved onto another record's.
    b = f"_fivetran_synced = '{STEP_B}'"
    space.sql(f"""
        update shopify."order" set email = '{original_email}', {b} where id = {orders['quarantined']};
        update shopify."order" set _fivetran_deleted = false, {b} where id = {orders['undeleted']};
        insert into shopify.fulfillment (id, order_id, status, created_at, tracking_company, tracking_number, _fivetran_synced)
            values (9100000000002, {orders['late_fulfillment']}, 'success', '{LATE}', 'DHL', 'LATE-TRACK-2', '{LATE}');
        insert into shopify.refund (id, order_id, created_at, _fivetran_synced)
            values (9200000000002, {orders['late_refund']}, '{LATE}', '{LATE}');
        insert into shopify.order_line_refund (id, refund_id, order_line_id, quantity, restock_type, _fivetran_synced)
            values (9300000000002, 9200000000002, {line.format(orders['late_refund'])}, 1, 'return', '{LATE}');
        update shopify.customer set email = (select email from shopify.customer where id = {shared_other}), {b}
            where id = {unique};
        update shopify.product_variant set sku = (
            select min(sku) from shopify.product_variant where product_id = {changed_product}), {b}
            where id = {renamed_variant};
        update shopify.shop set name = 'Renamed Shop', {b};
    """)
    build(space)
    assert space.sql(
        f"select count(*) from main.int_orders_prepared where \"TrackingNumber\" = 'LATE-TRACK-2'"
    ) == [(1,)], "the late fulfillment was not picked up"
    assert_same_as_full_refresh(space, tmp_path, "b")


def test_a_changed_model_definition_rebuilds_that_model_whole(space: Workspace, tmp_path: Path) -> None:
    # A copy of the project whose products and orders models gain a comment: same rows, new definitions.
    project = tmp_path / "project"
    shutil.copytree(Path(__file__).resolve().parents[2], project,
                    ignore=shutil.ignore_patterns(".venv", "target", ".git", "logs", "*.duckdb"))
    for name in ["int_products_prepared", "int_orders_prepared"]:
        model = project / "models" / "intermediate" / f"{name}.sql"
        model.write_text(model.read_text(encoding="utf-8") + "-- changed\n", encoding="utf-8")
    # Two syncs since the last build, further apart than the lookback: the orders model, rebuilt whole,
    # must read its upstream models (incremental) after they took both, not before.
    (earlier, later) = [order_id(space, case) for case in ("line_changed", "shipping")]
    line = "(select min(id) from shopify.order_line where order_id = {})"
    space.sql(f"""
        update shopify.order_line set quantity = quantity + 3, _fivetran_synced = '{STEP_B + timedelta(hours=1)}'
            where id = {line.format(earlier)};
        update shopify.order_line set quantity = quantity + 4, _fivetran_synced = '{STEP_B + timedelta(hours=9)}'
            where id = {line.format(later)};
    """)
    config = space.config.read_text(encoding="utf-8")
    try:
        space.config.write_text(config.replace(f"project_dir: {REPO}", f"project_dir: {project}"), encoding="utf-8")
        first = build(space)
        changed = first["incremental"]
        again = build(space)["incremental"]
    finally:
        space.config.write_text(config, encoding="utf-8")
    reason = {"mode": "full", "reason": "definition changed since its last build"}
    assert changed["int_products_prepared"] == changed["int_orders_prepared"] == reason
    # Their tests read whole tables, the other models' only the rows this build wrote.
    assert first["test_scope"]["tests"] == "changed rows", first["test_scope"]
    assert first["test_scope"]["whole_tables_of"] == sorted(
        name for name, mode in changed.items() if mode["mode"] == "full"), first["test_scope"]
    # Upstream of a model rebuilt whole, yet not rebuilt whole itself (dbt build +model --full-refresh did).
    assert changed["int_order_lines_merged"] == {"mode": "incremental"}
    assert changed["int_order_items_prepared"] == {"mode": "incremental"}
    assert space.sql("select count(distinct synced_watermark) > 1 from main.int_order_lines_merged") == [(True,)]
    assert again["int_products_prepared"] == again["int_orders_prepared"] == {"mode": "incremental"}
    assert_same_as_full_refresh(space, tmp_path, "definition")
    # feeds history shows how each build ran them: newest first, then the partly full one.
    history = space.feeds("history").stdout
    # Downstream of them only the marts and rejects, and int_customers_prepared (it finds the orders of
    # its e-mails in int_orders_prepared), are rebuilt whole too (their fingerprints cover what is
    # upstream of them); the models upstream of them stay incremental.
    full = {model for model, built in changed.items() if built["mode"] == "full"}
    assert {"int_products_prepared", "int_orders_prepared", "int_customers_prepared"} < full, changed
    assert all(model.startswith("listrak_") for model in
               full - {"int_products_prepared", "int_orders_prepared", "int_customers_prepared"}), changed
    assert history.index(" incremental ") < history.index(f" full {len(full)}/{len(changed)} "), history


def test_full_refresh_with_skip_build_is_refused(tmp_path: Path) -> None:
    space = Workspace(tmp_path / "refused", generate_data=False)
    result = space.feeds("run", "--skip-build", "--full-refresh")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--full-refresh" in result.stderr and "--skip-build" in result.stderr and "Traceback" not in result.stderr


def test_demo_data_again_rebuilds_the_incremental_models_whole(tmp_path: Path) -> None:
    # A smaller store replaces the raw tables wholesale: its vanished orders have no change row, so
    # only a full rebuild removes them from the incremental tables.
    space = Workspace(tmp_path / "reload", generate_data=False)
    for orders in ["300", "120"]:
        loaded = space.feeds("demo-data", "--orders", orders, "--seed", orders)
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr
        modes = build(space)["incremental"]
        assert {entry["mode"] for entry in modes.values()} == {"full"}, modes
    assert_same_as_full_refresh(space, tmp_path, "reload")


def test_a_row_synced_while_a_model_builds_is_left_to_the_next_build(tmp_path: Path) -> None:
    # Fivetran may sync into the warehouse while a model builds: after the model read its changed
    # keys (when dbt compiles it) and before its SQL runs. Such a row's key was not recomputed, so
    # the watermark the build writes must stay below it; the next build then picks it up.
    database = tmp_path / "feeds.duckdb"
    generate(database, orders=200, seed=5, as_of=AS_OF)
    with duckdb.connect(str(database)) as connection:
        for table in ["order", *CHILD_TABLES]:
            connection.execute(f"update shopify.\"{table}\" set _fivetran_synced = '{INITIAL}'")
        # The first build's watermark: a day back, so that its lookback leaves the other rows out.
        connection.execute(f"""update shopify."order" set _fivetran_synced = '{AS_OF - timedelta(days=1)}'
                               where id = (select max(id) from shopify."order")""")
        first, second = (row[0] for row in connection.execute(
            "select id from shopify.\"order\" where id in (select order_id from shopify.order_line)"
            " order by id limit 2").fetchall())
    model = "int_order_lines_merged"
    assert run_dbt(["run", "--select", f"+{model}"], database).success
    synced, during = AS_OF, AS_OF + timedelta(minutes=5)
    with duckdb.connect(str(database)) as connection:
        connection.execute(f"update shopify.\"order\" set _fivetran_synced = '{synced}' where id = {first}")

    compiled = run_dbt(["compile", "--select", model], database)
    assert compiled.success, compiled.exception
    sql = next((compiled.target / "compiled").rglob(f"{model}.sql")).read_text(encoding="utf-8")
    with duckdb.connect(str(database)) as connection:
        connection.execute(f"update shopify.\"order\" set _fivetran_synced = '{during}' where id = {second}")
        rows = connection.execute(f"select order_id, is_tombstone, synced_watermark from ({sql})").fetchall()

    recomputed = {order for order, tombstone, _ in rows if not tombstone}
    assert first in recomputed and second not in recomputed
    assert {watermark for _, tombstone, watermark in rows if not tombstone} == {synced}


def age(database: Path) -> None:
    """bench/incremental.py's age(): every raw row synced a day earlier, one order, customer and
    product synced now."""
    spec = importlib.util.spec_from_file_location("feeds_bench_incremental", REPO / "bench" / "incremental.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.age(database)


def test_a_run_right_after_an_initial_sync_rebuilds_whole_then_runs_incrementally(tmp_path: Path) -> None:
    # feeds demo-data syncs every row within minutes, as an initial sync does: the run after the first
    # build would recompute every entity through the incremental path, which costs more than a full one.
    space = Workspace(tmp_path / "initial", generate_data=False)
    loaded = space.feeds("demo-data", "--orders", "300", "--seed", "7")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    build(space)
    second = build(space)["incremental"]
    assert set(second) == {"int_orders_prepared", "int_order_items_prepared", "int_order_lines_merged",
                           "int_fulfillments_aggregated_to_orders", "int_shipping_lines_aggregated_to_orders",
                           "int_discount_codes_aggregated_to_orders", "int_customers_prepared",
                           "int_products_prepared", *COMPARED}
    for name, entry in second.items():
        assert entry["mode"] == "full", entry
        if name in COMPARED[:4]:  # the marts read no change view: rebuilt whole as their candidates are
            assert entry["reason"].startswith("downstream of ") and "_prepared" in entry["reason"], entry
        else:
            assert entry["reason"].startswith("100% of its change rows were synced after"), entry
            assert "as after an initial sync" in entry["reason"], entry
    assert_same_as_full_refresh(space, tmp_path, "initial")

    # A day later (the initial sync aged), a regular sync of a few orders: incremental again.
    age(space.duckdb)
    space.sql("""update shopify."order" set shipping_address_zip = '01234', _fivetran_synced = now()::timestamp
                 where id in (select id from shopify."order" order by id desc limit 3)""")
    third = build(space)["incremental"]
    assert {entry["mode"] for entry in third.values()} == {"incremental"}, third
    assert_same_as_full_refresh(space, tmp_path, "aged")


def test_models_outside_the_selection_are_neither_rebuilt_nor_forgotten(tmp_path: Path) -> None:
    space = Workspace(tmp_path / "selected", orders=200, seed=5)
    age(space.duckdb)  # past the initial sync, which the runner would rebuild whole
    products = ["--select", "+listrak_products"]
    for _ in range(2):
        built = space.feeds("build", *products, "--json")
        assert built.returncode == 0, built.stdout + built.stderr
    modes = json.loads(built.stdout)["dbt"]["incremental"]
    products_models = ("int_products_prepared", "listrak_products_rejects", "listrak_products")
    assert modes == dict.fromkeys(products_models, {"mode": "incremental"})
    # The order models were not selected: not built (dbt build +model --full-refresh of them did).
    assert space.sql("select count(*) from information_schema.tables where table_name = 'int_orders_prepared'") == [(0,)]
    every = build(space)["incremental"]
    assert [every.pop(name) for name in products_models] == [{"mode": "incremental"}] * 3
    assert {entry["reason"] for entry in every.values()} == {"no record of its last build on this warehouse"}
    # All sixteen remembered now: the next run updates each of them in place.
    assert {entry["mode"] for entry in build(space)["incremental"].values()} == {"incremental"}


def test_unchanged_views_are_kept_and_the_others_rebuilt(space: Workspace) -> None:
    # Last in this file: it adds a column to a raw table of the shared workspace.
    first = space.first_build  # type: ignore[attr-defined]
    views = sorted(name for (name,) in space.sql(
        "select table_name from information_schema.tables where table_schema = 'main' and table_type = 'VIEW'"))
    assert len([name for name in views if name.startswith("stg_shopify__")]) >= 15, views

    # A view replaced outside the runner (here: with one that drops every row) and one dropped by hand
    # are re-created, with the views downstream of them; every other view, unchanged since the
    # runner built it, is kept, and every data test still runs.
    definition = space.sql("select sql from duckdb_views() where view_name = 'stg_shopify__product_tags'")[0][0]
    space.sql(definition.rstrip().rstrip(";").replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1) + " limit 0")
    space.sql("drop view main.stg_shopify__shops")
    assert space.sql("select count(*) from main.stg_shopify__product_tags") == [(0,)]
    again = build(space)
    expected = {"stg_shopify__product_tags", "stg_shopify__shops",
                *views_downstream_of("stg_shopify__product_tags"), *views_downstream_of("stg_shopify__shops")}
    assert set(views) - set(again["kept_views"]) == expected, again["kept_views"]
    assert len(expected) < len(views) / 2, expected
    assert again["resource_types"]["test"] == first["resource_types"]["test"], again
    assert again["resource_types"]["model"] == first["resource_types"]["model"] - len(again["kept_views"]), again
    assert space.sql("select count(*) > 0 from main.stg_shopify__product_tags") == [(True,)]
    assert space.sql("select count(*) > 0 from main.stg_shopify__shops") == [(True,)]

    # A raw table that gains a column: staging reads the columns a table has when it compiles, so
    # every view downstream of the raw schema is re-created (here: all of them).
    space.sql("alter table shopify.product add column feeds_test_extra varchar")
    assert build(space)["kept_views"] == []


def views_downstream_of(model: str) -> set[str]:
    """The view models downstream of `model`, from the manifest the runs above wrote."""
    target = Path(os.environ.get("DBT_TARGET_PATH") or REPO / "target")
    manifest = json.loads(((target if target.is_absolute() else REPO / target) / "manifest.json").read_text())
    children, found = manifest["child_map"], set()
    pending = list(children[f"model.listrak_feeds.{model}"])
    while pending:
        node = manifest["nodes"].get(pending.pop())
        if node and node["resource_type"] == "model" and node["config"]["materialized"] == "view" \
                and node["name"] not in found:
            found.add(node["name"])
            pending.extend(children[node["unique_id"]])
    return found
