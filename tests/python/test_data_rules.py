"""Data rules of issue 10 (items 15-19): per-column over-length policy, exclusions counted, Title
without markup, quarantine counted by rows, and a quiet healthy run.

One in-process `dbt build` on planted demo data covers the SQL; three `feeds run`s cover what
the run prints and records.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from conftest import DbtRun, run_dbt
from workspace import Workspace

# A real order with a valid e-mail, a unique name, a shipping line and a tracked fulfillment.
GOOD_ORDERS = """
    select id, name from shopify."order" as orders
    where not test and not coalesce(_fivetran_deleted, false)
        and regexp_full_match(lower(trim(email)), '[a-z0-9._+-]+@[a-z0-9-]+(\\.[a-z0-9-]+)+')
        and name in (select name from shopify."order" group by name having count(*) = 1)
        and exists (select 1 from shopify.order_shipping_line as lines where lines.order_id = orders.id)
        and exists (
            select 1 from shopify.fulfillment as fulfillments
            where fulfillments.order_id = orders.id and fulfillments.tracking_number is not null
                and coalesce(fulfillments.status, 'success') = 'success')
    order by id
"""

# Active, published, not deleted products whose variants all have a SKU of their own.
LIVE_PRODUCTS = """
    select id from shopify.product as products
    where status = 'active' and published_at is not null and not coalesce(_fivetran_deleted, false)
        and not exists (
            select 1 from shopify.product_variant as variants
            where variants.product_id = products.id and (
                nullif(trim(variants.sku), '') is null
                or variants.sku in (select sku from shopify.product_variant group by sku having count(*) > 1)))
    order by id
"""


def _query(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(path))
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _plant(path: Path) -> dict[str, object]:
    con = duckdb.connect(str(path))
    try:
        (long_order, long_order_name), (long_key_order, _) = con.execute(GOOD_ORDERS).fetchall()[:2]
        # Every optional text of one order over its limit (Source 25, the others 32).
        con.execute("""update shopify."order" set source_name = repeat('s', 40) where id = ?""", [long_order])
        con.execute("update shopify.order_shipping_line set title = repeat('m', 40) where order_id = ?", [long_order])
        con.execute("update shopify.fulfillment set tracking_number = repeat('9', 40) where order_id = ?",
                    [long_order])
        con.execute("delete from shopify.order_discount_code where order_id = ?", [long_order])
        con.execute("""insert into shopify.order_discount_code (order_id, index, code, amount, type)
                       values (?, 0, repeat('C', 40), 1, 'fixed_amount')""", [long_order])
        # A key over its limit (OrderNumber, 50) quarantines the order.
        long_key = "#" + "1" * 60
        con.execute("""update shopify."order" set name = ? where id = ?""", [long_key, long_key_order])

        long_description, marked_up, unpublished = [row[0] for row in con.execute(LIVE_PRODUCTS).fetchall()[:3]]
        con.execute("update shopify.product set body_html = '<p>' || repeat('x', 5000) || '</p>' where id = ?",
                    [long_description])
        con.execute("update shopify.product set title = 'Plain <b>Tee</b> &amp; more' where id = ?", [marked_up])
        con.execute("update shopify.product set published_at = null where id = ?", [unpublished])
        unpublished_variants = {str(row[0]) for row in con.execute(
            "select id from shopify.product_variant where product_id = ?", [unpublished]).fetchall()}

        customer = con.execute("""select min(id) from shopify.customer where not coalesce(_fivetran_deleted, false)
                                  and email like '%@%.%'""").fetchone()[0]
        con.execute("update shopify.customer set first_name = '<b>Ann</b>' where id = ?", [customer])
    finally:
        con.close()
    return {
        "long_order": str(long_order), "long_order_name": long_order_name, "long_key": long_key,
        "long_description": str(long_description), "marked_up": str(marked_up),
        "unpublished_variants": unpublished_variants,
    }


@pytest.fixture(scope="module")
def planted(fresh_demo_db: Callable[[str], Path]) -> tuple[Path, dict[str, object], DbtRun]:
    path = fresh_demo_db("data-rules")
    ids = _plant(path)
    # The data, not the SQL on fixed inputs: no unit tests (test_models.py runs them).
    return path, ids, run_dbt(["build", "--exclude-resource-type", "unit_test"], path)


def test_long_optional_order_text_is_cut_and_the_order_is_sent(planted):
    path, ids, run = planted
    assert run.success, run.exception or sorted(run.named("fail") | run.named("error"))
    sent = _query(path, """select "TrackingNumber", "ShippingMethod", "CouponCode", "Source" from listrak_orders
                           where "OrderNumber" = ?""", [ids["long_order_name"]])
    assert sent == [("9" * 32, "m" * 32, "C" * 32, "s" * 25)]
    items = _query(path, """select distinct "ShippingMethod" from listrak_order_items where "OrderNumber" = ?""",
                   [ids["long_order_name"]])
    assert items in ([], [("m" * 32,)])
    cut = _query(path, """select kind, reject_reason, feed_column from listrak_orders_rejects
                          where source_id = ? order by feed_column""", [ids["long_order"]])
    assert cut == [("truncated", "too_long", column) for column in
                   ("CouponCode", "ShippingMethod", "Source", "TrackingNumber")]


def test_long_key_quarantines_the_order(planted):
    path, ids, _ = planted
    assert _query(path, 'select count(*) from listrak_orders where "OrderNumber" = ?', [ids["long_key"]]) == [(0,)]
    assert _query(path, """select kind, reject_reason, feed_column, reject_detail from listrak_orders_rejects
                           where "OrderNumber" = ?""", [ids["long_key"]]) == [
        ("quarantined", "too_long", "OrderNumber", "OrderNumber is 61 characters long, maximum 50")]


def test_long_description_is_cut_and_counted(planted):
    path, ids, _ = planted
    lengths = {row[0] for row in _query(
        path, 'select length("Description") from listrak_products where "MasterSku" = ?', [ids["long_description"]])}
    assert lengths == {4000}
    truncated = _query(path, """select distinct feed_column from listrak_products_rejects
        where kind = 'truncated' and source_id in (
            select cast(id as varchar) from shopify.product_variant where product_id = cast(? as bigint))""",
        [ids["long_description"]])
    assert truncated == [("Description",)]


def test_title_markup_is_removed_and_no_feed_text_holds_markup(planted):
    path, ids, run = planted
    titles = {row[0] for row in _query(path, 'select "Title" from listrak_products where "MasterSku" = ?',
                                       [ids["marked_up"]])}
    assert titles and all(title.startswith("Plain Tee & more") and "<" not in title for title in titles), titles
    assert run.statuses["listrak_products_text_has_no_markup"] == "pass"
    # Markup the source typed into another text column is found, as a warning.
    assert run.statuses["listrak_customers_text_has_no_markup"] == "warn"


def test_unpublished_products_are_excluded_with_a_reason(planted):
    path, ids, run = planted
    excluded = _query(path, """select source_id, kind, reject_reason from listrak_products_rejects
                               where source_id in (select unnest(?::varchar[]))""",
                      [sorted(ids["unpublished_variants"])])
    assert {row[0] for row in excluded} == ids["unpublished_variants"]
    assert {(row[1], row[2]) for row in excluded} == {("excluded", "unpublished")}
    assert _query(path, 'select count(*) from listrak_products where "MasterSku" = ?',
                  [next(iter(_query(path, "select cast(product_id as varchar) from shopify.product_variant "
                                          "where cast(id as varchar) = ?", [min(ids["unpublished_variants"])])))[0]]
                  ) == [(0,)]
    assert run.statuses["listrak_products_accounts_for_every_row"] == "pass"


# ---- what `feeds run` prints and records ----------------------------------------------------


def _record(workspace: Workspace) -> dict:
    (path,) = sorted((workspace.root / "state" / "runs").glob("*.json"))[-1:]
    return json.loads(path.read_text(encoding="utf-8"))


def test_healthy_run_prints_stages_quarantine_once_and_the_summary(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    result = workspace.feeds("run", "--config", str(workspace.config))
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "rejects_empty" not in output and "dbt test" not in output, output
    warnings = [line for line in output.splitlines() if line.startswith("warning:")]
    quarantine = [line for line in warnings if "rows quarantined" in line]
    # Only the per-feed quarantine counts, each feed once.
    assert warnings == quarantine, warnings
    feeds = [line.split(":")[1].strip() for line in quarantine]
    assert len(feeds) == len(set(feeds)) and quarantine, quarantine
    assert "[build]" in output and "[export]" in output and "excluded" in output
    record = _record(workspace)
    for name, feed in record["feeds"].items():
        assert feed["rejected_rows"] == len(set(workspace.sql(
            f"select source_id from main.listrak_{name}_rejects where kind = 'quarantined'"))), name
    assert record["feeds"]["orders"]["excluded"]["test_order"] > 0


def test_quarantine_counts_rows_and_truncations_per_column(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path, seed=12)
    live = [row[0] for row in workspace.sql(LIVE_PRODUCTS)]
    product = next(candidate for candidate in live if workspace.sql(
        f"select count(*) from shopify.product_variant where product_id = {candidate}")[0][0] >= 2)
    described = next(candidate for candidate in live if candidate != product)
    first, second = workspace.sql(f"select id, sku from shopify.product_variant where product_id = {product} "
                                  "order by id limit 2")
    # Two variants share a SKU and have an over-long Title (required): 2 rows, 2 reasons each.
    workspace.sql(f"update shopify.product_variant set sku = '{first[1]}' where id = {second[0]}")
    workspace.sql(f"update shopify.product set title = repeat('t', 600) where id = {product}")
    workspace.sql(f"update shopify.product set body_html = repeat('word ', 1000) where id = {described}")
    (order,) = [row[0] for row in workspace.sql(GOOD_ORDERS)[:1]]
    workspace.sql(f"update shopify.order_shipping_line set title = repeat('m', 40) where order_id = {order}")

    result = workspace.feeds("run", "--config", str(workspace.config), env={"COLUMNS": "250"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: products: 2 rows quarantined (2 duplicate_key + too_long:Title)" in result.stderr
    products = _record(workspace)["feeds"]["products"]
    assert products["rejected_rows"] == 2
    assert products["rejects"] == {"duplicate_key": 2, "too_long:Title": 2}
    assert products["truncated"] == {"Description": 1}
    assert _record(workspace)["feeds"]["orders"]["truncated"] == {"ShippingMethod": 1}
    assert "Description 1" in result.stdout and "ShippingMethod 1" in result.stdout, result.stdout


def test_empty_products_feed_refusal_says_why(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path, seed=13)
    workspace.sql("update shopify.product set published_at = null where status = 'active'")
    workspace.sql("update shopify.product set status = 'draft' where status = 'archived'")
    counts = dict(workspace.sql("""
        select case when coalesce(products._fivetran_deleted, false) then 'deleted_product'
                    when status = 'draft' then 'draft' else 'unpublished' end, count(*)
        from shopify.product_variant as variants
        inner join shopify.product as products on variants.product_id = products.id group by 1"""))
    result = workspace.feeds("run", "--config", str(workspace.config))
    assert result.returncode == 4, result.stdout + result.stderr
    rules = ", ".join(f"{count} {rule}" for rule, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    assert (f"products: the full file would be empty: {sum(counts.values())} source rows excluded ({rules})"
            in result.stderr), result.stderr
