"""The dbt project end to end: real demo data in DuckDB, real `dbt build` through dbtRunner.

Builds are expensive (seconds each), so each scenario is built once per module and several tests
read its result: a demo dataset with planted defects, and one whose e-mails are mostly broken.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from conftest import DbtRun, run_dbt

# The feed headers of the Listrak spec (shared/spec/listrak-feeds.md), in file order.
META = ["Meta1", "Meta2", "Meta3", "Meta4", "Meta5"]
SPEC_COLUMNS = {
    "listrak_orders": [
        "Email", "OrderNumber", "DateEntered", "OrderTotal", "ItemTotal", "TaxTotal", "ShippingTotal",
        "HandlingTotal", "Status", "ShipDate", "TrackingNumber", "ShippingMethod", "CouponCode",
        "DiscountTotal", "Source", *META,
    ],
    "listrak_order_items": [
        "OrderNumber", "Sku", "Quantity", "Price", "Status", "ShipDate", "TrackingNumber",
        "ShippingMethod", "DiscountedPrice", "ItemTotal", *META,
    ],
    "listrak_customers": [
        "Email", "FirstName", "LastName", "Gender", "Birthday", "ZipCode", "CustomerNumber", "Registered", *META,
    ],
    "listrak_products": [
        "Sku", "Title", "ImageUrl", "LinkUrl", "Description", "Price", "Brand", "Category", "SubCategory",
        "SalePrice", "SaleStartDate", "SaleEndDate", "OnSale", "IsClearance", "IsOutlet", "QOH", "InStock",
        "MasterSku", "ReviewProductID", "ReviewUrl", "Discontinued", "Size", "Color", "Style", "Gender",
        "MSRP", *META,
    ],
}

# Live products (what the products feed carries): active and published, or archived; never deleted.
LIVE_VARIANTS = """
    select variant.id, variant.product_id, variant.sku
    from shopify.product_variant as variant
    inner join shopify.product as product on variant.product_id = product.id
    where not coalesce(product._fivetran_deleted, false)
        and (product.status = 'archived' or (product.status = 'active' and product.published_at is not null))
        and nullif(trim(variant.sku), '') is not null
        and variant.sku not in (
            select sku from shopify.product_variant where sku is not null group by sku having count(*) > 1
        )
    order by variant.id
"""


def _plant_defects(path: Path) -> dict[str, object]:
    """Plant one defect of each kind into the raw tables; return the ids planted."""
    con = duckdb.connect(str(path))
    try:
        variants = con.execute(LIVE_VARIANTS).fetchall()
        # Three live variants of three different products: a title with CR/LF, two sharing one SKU.
        by_product: dict[int, tuple[int, int, str]] = {}
        for variant in variants:
            by_product.setdefault(variant[1], variant)
        titled, first_dup, second_dup = list(by_product.values())[:3]
        con.execute("update shopify.product set title = 'Planted' || chr(13) || chr(10) || 'Title' where id = ?",
                    [titled[1]])
        con.execute("update shopify.product_variant set sku = ? where id = ?", [first_dup[2], second_dup[0]])

        customer_id = con.execute("""
            select min(id) from shopify.customer
            where not coalesce(_fivetran_deleted, false) and email is not null
                and lower(trim(email)) in (
                    select lower(trim(email)) from shopify.customer group by 1 having count(*) = 1)
        """).fetchone()[0]
        con.execute("update shopify.customer set email = 'not-an-email' where id = ?", [customer_id])

        order_id, order_name = con.execute("""
            select id, name from shopify."order"
            where not test and not coalesce(_fivetran_deleted, false) and email is not null
            order by id limit 1
        """).fetchone()
        con.execute("update shopify.\"order\" set email = 'broken@@example.com' where id = ?", [order_id])
        order_lines = {row[0] for row in con.execute(
            "select id from shopify.order_line where order_id = ?", [order_id]).fetchall()}
    finally:
        con.close()
    return {
        "titled_product": titled[1],
        "duplicate_variants": {first_dup[0], second_dup[0]},
        "duplicate_sku": first_dup[2],
        "customer_id": customer_id,
        "order_id": order_id,
        "order_name": order_name,
        "order_lines": order_lines,
    }


@pytest.fixture(scope="module")
def planted(fresh_demo_db: Callable[[str], Path]) -> tuple[Path, dict[str, object], DbtRun]:
    path = fresh_demo_db("planted")
    ids = _plant_defects(path)
    return path, ids, run_dbt(["build"], path)


@pytest.fixture(scope="module")
def broken_emails(fresh_demo_db: Callable[[str], Path]) -> tuple[Path, DbtRun]:
    path = fresh_demo_db("broken-emails")
    con = duckdb.connect(str(path))
    try:
        # Four customers in five lose the "@": a broken source, not one bad record.
        con.execute("update shopify.customer set email = replace(email, '@', ' at ') where id % 5 != 0")
    finally:
        con.close()
    return path, run_dbt(["build", "--exclude-resource-type", "unit_test"], path)  # the data only


def _query(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    # Not read_only: dbt-duckdb keeps its own connection to the file open in this process, and
    # DuckDB refuses a second connection with a different configuration.
    con = duckdb.connect(str(path))
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_build_with_single_defects_succeeds_and_runs_unit_tests(planted):
    _, _, run = planted
    assert run.success, run.exception or sorted(run.named("fail") | run.named("error"))
    assert not run.named("fail") and not run.named("error")
    # Unit tests run as part of the build (named <model>::<test> in results, by their test name here).
    assert "status_cancelled_is_10" in run.statuses
    # Guest orders without e-mail are normal: quarantined and counted, but no warning.
    assert run.statuses["listrak_orders_rejects_below_warn_share"] == "pass"


@pytest.mark.parametrize("model", sorted(SPEC_COLUMNS))
def test_mart_columns_equal_the_spec_in_order(planted, model):
    path, _, _ = planted
    columns = [row[0] for row in _query(path, """
        select column_name from information_schema.columns
        where table_name = ? order by ordinal_position""", [model])]
    # The spec's columns in order, then the incremental mart's internal ones (never exported).
    entity = {"listrak_customers": "customer_key", "listrak_products": "product_id"}.get(model, "order_id")
    assert columns == [*SPEC_COLUMNS[model], entity, "is_tombstone", "synced_watermark", "built_at"]


def test_line_breaks_in_a_raw_title_come_out_as_one_space(planted):
    path, ids, _ = planted
    titles = {row[0] for row in _query(path, """
        select products."Title" from listrak_products as products
        where products."MasterSku" = cast(? as varchar)""", [ids["titled_product"]])}
    assert titles and all(title.startswith("Planted Title") for title in titles), titles


def test_one_bad_email_quarantines_exactly_that_customer_and_order(planted):
    path, ids, _ = planted
    customer_rejects = _query(path, """
        select source_id, "Email", reject_detail from listrak_customers_rejects
        where reject_reason = 'invalid_email'""")
    assert [row[0] for row in customer_rejects] == [str(ids["customer_id"])]
    assert customer_rejects[0][1] == "not-an-email"
    assert _query(path, "select count(*) from listrak_customers where \"Email\" = 'not-an-email'") == [(0,)]

    order_rejects = _query(path, """
        select source_id, "OrderNumber" from listrak_orders_rejects where reject_reason = 'invalid_email'""")
    assert order_rejects == [(str(ids["order_id"]), ids["order_name"])]
    assert _query(path, 'select count(*) from listrak_orders where "OrderNumber" = ?', [ids["order_name"]]) == [(0,)]

    # Its items follow it into quarantine, and only its items carry order_rejected.
    item_rejects = _query(path, """
        select source_id from listrak_order_items_rejects where reject_reason = 'order_rejected'""")
    rejected_lines = {int(line) for (source_id,) in item_rejects for line in source_id.split(",")}
    assert rejected_lines == ids["order_lines"]
    assert _query(path, 'select count(*) from listrak_order_items where "OrderNumber" = ?', [ids["order_name"]]) == [(0,)]


def test_duplicate_variant_sku_quarantines_exactly_those_rows(planted):
    path, ids, _ = planted
    rejects = _query(path, """select source_id, "Sku", reject_reason from listrak_products_rejects
        where kind = 'quarantined'""")
    assert {int(row[0]) for row in rejects} == ids["duplicate_variants"]
    assert {(row[1], row[2]) for row in rejects} == {(ids["duplicate_sku"], "duplicate_key")}
    assert _query(path, 'select count(*) from listrak_products where "Sku" = ?', [ids["duplicate_sku"]]) == [(0,)]


def test_test_orders_and_deleted_rows_never_reach_a_feed(planted):
    path, _, _ = planted
    excluded_orders = {row[0] for row in _query(path, """
        select name from shopify."order" where test or coalesce(_fivetran_deleted, false)
        except select name from shopify."order" where not test and not coalesce(_fivetran_deleted, false)""")}
    deleted_emails = {row[0] for row in _query(path, """
        select lower(trim(email)) from shopify.customer where _fivetran_deleted
        except select lower(trim(email)) from shopify.customer where not coalesce(_fivetran_deleted, false)""")}
    deleted_products = {str(row[0]) for row in _query(path, "select id from shopify.product where _fivetran_deleted")}
    assert excluded_orders and deleted_emails and deleted_products, "demo data lost its test/deleted rows"

    feed_orders = {row[0] for row in _query(path, 'select "OrderNumber" from listrak_orders')}
    feed_item_orders = {row[0] for row in _query(path, 'select "OrderNumber" from listrak_order_items')}
    feed_emails = {row[0] for row in _query(path, 'select "Email" from listrak_customers')}
    feed_masters = {row[0] for row in _query(path, 'select "MasterSku" from listrak_products')}
    assert not excluded_orders & feed_orders
    assert not excluded_orders & feed_item_orders
    assert not deleted_emails & feed_emails
    assert not deleted_products & feed_masters
    # ...and they are not quarantined either: they are simply not feed candidates.
    rejected_orders = {row[0] for row in _query(path, """select "OrderNumber" from listrak_orders_rejects
        where kind = 'quarantined'""")}
    assert not excluded_orders & rejected_orders


def test_mostly_malformed_emails_fail_the_build_naming_the_threshold_test(broken_emails):
    path, run = broken_emails
    assert not run.success
    assert run.named("fail") == {"listrak_customers_rejects_within_threshold"}
    assert run.statuses["listrak_customers_rejects_below_warn_share"] == "warn"
    invalid = _query(path, "select count(*) from listrak_customers_rejects where reject_reason = 'invalid_email'")
    assert invalid[0][0] > 100


def test_overlong_optional_text_is_cut_and_listed_as_truncated(fresh_demo_db):
    """FirstName is optional: over its maximum it is cut, the customer is sent, and the cut is listed."""
    path = fresh_demo_db("overlong")
    con = duckdb.connect(str(path))
    try:
        customer_id = con.execute("""
            select min(id) from shopify.customer
            where not coalesce(_fivetran_deleted, false) and email like '%@%.%'
                and lower(trim(email)) in (
                    select lower(trim(email)) from shopify.customer group by 1 having count(*) = 1)""").fetchone()[0]
        con.execute("update shopify.customer set first_name = repeat('x', 60) where id = ?", [customer_id])
    finally:
        con.close()

    run = run_dbt(["build", "--select", "+listrak_customers", "--indirect-selection", "cautious"], path)
    assert run.success
    assert _query(path, """select kind, reject_reason, feed_column, reject_detail from listrak_customers_rejects
        where source_id = ?""", [str(customer_id)]) == [
        ("truncated", "too_long", "FirstName", "FirstName is 60 characters long, cut to 50")]
    assert _query(path, 'select "FirstName" from listrak_customers where "CustomerNumber" = ?',
                  [str(customer_id)]) == [("x" * 50,)]


def test_manifest_declares_feeds_limits_and_required_columns_for_the_runner(planted):
    """The runner reads each feed from the mart's meta and its columns' max_length / not_null tests."""
    path, _, _ = planted
    parsed = run_dbt(["parse", "--quiet"], path)
    assert parsed.success, parsed.exception
    manifest = parsed.result
    limits, required = {}, set()
    for node in manifest.nodes.values():
        if node.resource_type == "test" and getattr(node, "test_metadata", None) and node.column_name:
            # Feed columns are `quote: true`: dbt records the column quoted for the target.
            key = (node.attached_node.split(".")[-1], node.column_name.strip('"'))
            if node.test_metadata.name == "max_length":
                limits[key] = node.test_metadata.kwargs["length"]
            elif node.test_metadata.name == "not_null":
                required.add(key)
    feeds = {
        node.name: node.config.meta["listrak_feed"]
        for node in manifest.nodes.values()
        if node.resource_type == "model" and "listrak_feed" in node.config.meta
    }
    assert {name: (feed["name"], feed["key"], feed["mode"]) for name, feed in feeds.items()} == {
        "listrak_orders": ("orders", ["OrderNumber"], "delta"),
        "listrak_order_items": ("order_items", ["OrderNumber", "Sku"], "delta"),
        "listrak_customers": ("customers", ["Email"], "delta"),
        "listrak_products": ("products", ["Sku"], "full"),
    }
    assert limits[("listrak_orders", "Email")] == 100
    assert limits[("listrak_orders", "TrackingNumber")] == 32
    assert limits[("listrak_customers", "Meta1")] == 250
    assert limits[("listrak_products", "Description")] == 4000
    assert ("listrak_products", "Description") in required
    assert ("listrak_orders", "TrackingNumber") not in required
    for model, columns in SPEC_COLUMNS.items():
        assert all((model, column) in required for column in feeds[model]["key"])
