"""The demo-data generator against a real DuckDB file."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from runner.warehouse.demo import TABLES, generate
from runner.errors import ConfigError

AS_OF = datetime(2025, 6, 1, 12, 0, 0)

SPEC_COLUMNS: dict[str, set[str]] = {
    "shop": {"id", "name", "domain", "myshopify_domain", "iana_timezone", "currency"},
    "order": {
        "id", "name", "order_number", "email", "customer_id", "created_at", "updated_at",
        "processed_at", "cancelled_at", "cancel_reason", "closed_at", "financial_status",
        "fulfillment_status", "currency", "subtotal_price", "total_line_items_price",
        "total_discounts", "total_tax", "total_price", "source_name", "test",
        "billing_address_zip", "shipping_address_zip", "_fivetran_deleted", "_fivetran_synced",
    },
    "order_line": {
        "id", "order_id", "index", "product_id", "variant_id", "sku", "title", "variant_title",
        "name", "vendor", "price", "quantity", "total_discount", "fulfillment_status", "gift_card",
    },
    "order_shipping_line": {"id", "order_id", "title", "code", "price", "discounted_price"},
    "order_discount_code": {"order_id", "index", "code", "amount", "type"},
    "fulfillment": {
        "id", "order_id", "status", "created_at", "updated_at", "tracking_company",
        "tracking_number", "service", "shipment_status",
    },
    "refund": {"id", "order_id", "created_at", "processed_at", "restock"},
    "order_line_refund": {
        "id", "refund_id", "order_line_id", "quantity", "subtotal", "total_tax", "restock_type",
    },
    "customer": {
        "id", "email", "first_name", "last_name", "phone", "state", "created_at", "updated_at",
        "verified_email", "accepts_marketing", "email_marketing_consent_state",
        "default_address_id", "_fivetran_deleted", "_fivetran_synced",
    },
    "product": {
        "id", "title", "handle", "body_html", "vendor", "product_type", "status", "created_at",
        "updated_at", "published_at", "_fivetran_deleted", "_fivetran_synced",
    },
    "product_variant": {
        "id", "product_id", "sku", "title", "price", "compare_at_price", "inventory_quantity",
        "inventory_policy", "position", "barcode", "available_for_sale", "created_at",
        "updated_at",
    },
    "product_media": {"product_id", "media_id"},
    "media_image": {"media_id", "image_id", "image_url", "image_alt_text"},
    "collection": {"id", "title", "handle", "sort_order", "published_at", "_fivetran_deleted"},
    "collection_product": {"collection_id", "product_id"},
    "product_tag": {"product_id", "index", "value"},
}


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    counts = generate(path, orders=1000, seed=42, as_of=AS_OF)
    return path, counts


@pytest.fixture()
def con(demo_db: tuple[Path, dict[str, int]]):
    connection = duckdb.connect(str(demo_db[0]), read_only=True)
    yield connection
    connection.close()


def _scalar(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql).fetchone()[0]


def _table_digests(path: Path) -> dict[str, str]:
    """A digest of every table's rows in storage order, so order and content both count."""
    with duckdb.connect(str(path), read_only=True) as con:
        digests = {}
        for table in TABLES:
            rows = con.execute(f'select * from shopify."{table}"').fetchall()
            digests[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
        return digests


def test_same_seed_gives_identical_tables_and_other_seed_differs(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a.duckdb", tmp_path / "b.duckdb", tmp_path / "c.duckdb"
    generate(first, orders=500, seed=7, as_of=AS_OF)
    generate(second, orders=500, seed=7, as_of=AS_OF)
    generate(other, orders=500, seed=8, as_of=AS_OF)
    a, b, c = _table_digests(first), _table_digests(second), _table_digests(other)
    assert a == b
    # shop and collection carry no random content; everything else must change with the seed
    changed = {table for table in TABLES if a[table] != c[table]}
    assert changed >= set(TABLES) - {"shop", "collection"}


def test_regenerating_replaces_tables(tmp_path: Path) -> None:
    path = tmp_path / "demo.duckdb"
    generate(path, orders=300, seed=1, as_of=AS_OF)
    counts = generate(path, orders=100, seed=1, as_of=AS_OF)
    with duckdb.connect(str(path), read_only=True) as con:
        assert _scalar(con, 'select count(*) from shopify."order"') == 100 == counts["order"]


def test_every_spec_table_and_column_exists(con, demo_db) -> None:
    _, counts = demo_db
    assert set(counts) == set(SPEC_COLUMNS)
    for table, columns in SPEC_COLUMNS.items():
        present = {
            row[0]
            for row in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'shopify' and table_name = ?",
                [table],
            ).fetchall()
        }
        assert columns <= present, f"{table} lacks {columns - present}"
        assert counts[table] > 0
        assert _scalar(con, f'select count(*) from shopify."{table}"') == counts[table]


def test_column_types(con) -> None:
    types = dict(
        con.execute(
            "select table_name || '.' || column_name, data_type from information_schema.columns "
            "where table_schema = 'shopify'"
        ).fetchall()
    )
    assert types["order.id"] == "BIGINT"
    assert types["order.total_price"] == "DECIMAL(18,2)"
    assert types["order.created_at"] == "TIMESTAMP"
    assert types["order.test"] == "BOOLEAN"
    assert types["customer._fivetran_deleted"] == "BOOLEAN"
    assert types["product._fivetran_synced"] == "TIMESTAMP"
    assert types["order_line.variant_id"] == "BIGINT"
    assert types["product_variant.compare_at_price"] == "DECIMAL(18,2)"


def test_shop_row(con) -> None:
    rows = con.execute("select domain, iana_timezone, currency from shopify.shop").fetchall()
    assert rows == [("demo-shop.example.com", "America/New_York", "USD")]


def test_synced_is_recent(con) -> None:
    oldest = _scalar(con, 'select min(_fivetran_synced) from shopify."order"')
    assert AS_OF - oldest <= (AS_OF - AS_OF.replace(hour=11))
    assert _scalar(con, 'select max(updated_at) from shopify."order"') <= AS_OF


EDGE_CASES = {
    "null order emails": """select count(*) from shopify."order" where email is null""",
    "POS orders without e-mail or customer": """
        select count(*) from shopify."order"
        where source_name = 'pos' and email is null and customer_id is null""",
    "guest orders with e-mail but no customer": """
        select count(*) from shopify."order" where email is not null and customer_id is null""",
    "voided cancelled orders": """
        select count(*) from shopify."order"
        where cancelled_at is not null and financial_status = 'voided'""",
    "refunded cancelled orders": """
        select count(*) from shopify."order" as o inner join shopify.refund as r on r.order_id = o.id
        where o.cancelled_at is not null and o.financial_status = 'refunded'""",
    "padded emails": "select count(*) from shopify.customer where email <> trim(email)",
    "mixed-case emails": "select count(*) from shopify.customer where email <> lower(email)",
    "shared emails": """
        select count(*) from (
            select lower(trim(email)) from shopify.customer where email is not null
            group by 1 having count(distinct id) > 1 and count(distinct updated_at) > 1)""",
    "comma in product title": "select count(*) from shopify.product where title like '%,%'",
    "quote in product title": """select count(*) from shopify.product where title like '%"%'""",
    "CR/LF in product title": """
        select count(*) from shopify.product where title like '%' || chr(13) || chr(10) || '%'""",
    "tab in product title": "select count(*) from shopify.product where title like '%\t%'",
    "non-ASCII in product title": """
        select count(*) from shopify.product where regexp_matches(title, '[^\\x00-\\x7F]')""",
    "non-ASCII in customer names": """
        select count(*) from shopify.customer
        where regexp_matches(first_name || coalesce(last_name, ''), '[^\\x00-\\x7F]')""",
    "emoji in customer names": """
        select count(*) from shopify.customer where regexp_matches(first_name, '[✨🌸🎉🌿🔥💎]')""",
    "comma in variant title": "select count(*) from shopify.product_variant where title like '%,%'",
    "quote in variant title": """
        select count(*) from shopify.product_variant where title like '%"%'""",
    "tab in variant title": "select count(*) from shopify.product_variant where title like '%\t%'",
    "CR/LF in variant title": """
        select count(*) from shopify.product_variant where title like '%' || chr(10) || '%'""",
    "CR/LF in order line title": """
        select count(*) from shopify.order_line where title like '%' || chr(10) || '%'""",
    "tab in order line name": """
        select count(*) from shopify.order_line where name like '%' || chr(9) || '%'""",
    "quote and comma in order line name": """
        select count(*) from shopify.order_line where name like '%"%' and name like '%,%'""",
    "HTML tags in body_html": """
        select count(*) from shopify.product where body_html like '%<p>%'
        and body_html like '%<br/>%'""",
    "HTML entities in body_html": """
        select count(*) from shopify.product where body_html like '%&amp;%'
        and body_html like '%&nbsp;%' and body_html like '%&#39;%'""",
    "long body_html": "select count(*) from shopify.product where length(body_html) > 4000",
    "test orders": 'select count(*) from shopify."order" where test',
    "cancelled orders": """
        select count(*) from shopify."order"
        where cancelled_at is not null and cancel_reason is not null""",
    "refunded orders": """
        select count(*) from shopify."order" as o
        inner join shopify.refund as r on r.order_id = o.id where o.financial_status = 'refunded'""",
    "partially refunded orders": """
        select count(*) from shopify."order" as o
        inner join shopify.refund as r on r.order_id = o.id
        where o.financial_status = 'partially_refunded'""",
    "partially fulfilled orders": """
        select count(*) from shopify."order" where fulfillment_status = 'partial'""",
    "orders with several fulfillments": """
        select count(*) from (select order_id from shopify.fulfillment
        group by order_id having count(*) > 1)""",
    "cancelled fulfillments": "select count(*) from shopify.fulfillment where status = 'cancelled'",
    "null SKU lines": "select count(*) from shopify.order_line where sku is null",
    "blank SKU lines": "select count(*) from shopify.order_line where sku = ''",
    "repeated SKU in one order": """
        select count(*) from (select order_id, sku from shopify.order_line
        where sku <> '' group by all having count(*) > 1)""",
    "on-sale variants": """
        select count(*) from shopify.product_variant where compare_at_price > price""",
    "out-of-stock continue variants": """
        select count(*) from shopify.product_variant
        where inventory_quantity <= 0 and inventory_policy = 'continue'""",
    "out-of-stock deny variants": """
        select count(*) from shopify.product_variant
        where inventory_quantity <= 0 and inventory_policy = 'deny'""",
    "archived products": "select count(*) from shopify.product where status = 'archived'",
    "draft products": "select count(*) from shopify.product where status = 'draft'",
    "deleted products": "select count(*) from shopify.product where _fivetran_deleted",
    "deleted customers": "select count(*) from shopify.customer where _fivetran_deleted",
    "deleted orders": 'select count(*) from shopify."order" where _fivetran_deleted',
    "shipping lines": "select count(*) from shopify.order_shipping_line",
    "orders with two discount codes": """
        select count(*) from (select order_id from shopify.order_discount_code
        group by order_id having count(*) = 2)""",
    "products with several images": """
        select count(*) from (select product_id from shopify.product_media
        group by product_id having count(*) > 1)""",
    "clearance tags": "select count(*) from shopify.product_tag where value = 'clearance'",
    "outlet tags": "select count(*) from shopify.product_tag where value = 'outlet'",
    "gender tags": "select count(*) from shopify.product_tag where value like 'gender:%'",
    "collection assignments": "select count(*) from shopify.collection_product",
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_case_present_at_default_size(con, case: str) -> None:
    assert _scalar(con, EDGE_CASES[case]) > 0, case


def test_null_emails_are_a_few_percent(con) -> None:
    share = _scalar(con, 'select avg((email is null)::int) from shopify."order"')
    assert 0.01 <= share <= 0.08


def test_row_attributes_are_drawn_independently(tmp_path: Path) -> None:
    """Each attribute has its own hash stream: being a POS sale says nothing about being a guest."""
    path = tmp_path / "big.duckdb"
    generate(path, orders=20_000, seed=3, as_of=AS_OF)
    with duckdb.connect(str(path), read_only=True) as con:
        pos_guests = _scalar(
            con, """select avg((email is null)::int) from shopify."order" where source_name = 'pos'"""
        )
        cancelled_voided = _scalar(
            con,
            """select avg((financial_status = 'voided')::int) from shopify."order"
            where cancelled_at is not null""",
        )
    assert 0.4 <= pos_guests <= 0.6
    assert 0.4 <= cancelled_voided <= 0.6


def test_emails_are_valid_after_trim_and_lower(con) -> None:
    for table in ("customer", "order"):
        bad = _scalar(
            con,
            f"""select count(*) from shopify."{table}" where email is not null and not
                regexp_full_match(lower(trim(email)), '[a-z0-9._+-]+@[a-z0-9-]+(\\.[a-z0-9-]+)+')""",
        )
        assert bad == 0, table


def test_variant_skus_are_unique_and_present(con) -> None:
    assert _scalar(con, "select count(*) from shopify.product_variant where sku is null or sku = ''") == 0
    assert _scalar(
        con, "select count(*) - count(distinct sku) from shopify.product_variant"
    ) == 0


def test_text_lengths_within_feed_limits(con) -> None:
    assert _scalar(con, "select max(length(title)) from shopify.product") <= 200
    assert _scalar(con, "select max(length(trim(email))) from shopify.customer") <= 100
    assert _scalar(con, "select max(length(first_name)) from shopify.customer") <= 50
    assert _scalar(con, "select max(length(last_name)) from shopify.customer") <= 50
    assert _scalar(con, "select max(length(vendor)) from shopify.product") <= 50
    assert _scalar(con, "select max(length(product_type)) from shopify.product") <= 50
    assert _scalar(con, "select max(length(title)) from shopify.order_shipping_line") <= 32
    assert _scalar(con, "select max(length(code)) from shopify.order_discount_code") <= 32
    assert _scalar(con, "select max(length(tracking_number)) from shopify.fulfillment") <= 32
    assert _scalar(con, 'select max(length(source_name)) from shopify."order"') <= 25
    assert _scalar(con, "select max(length(name)) from shopify.\"order\"") <= 50
    assert _scalar(
        con, 'select max(length(billing_address_zip)) from shopify."order"'
    ) <= 20


ORPHANS = {
    "order.customer_id": """select count(*) from shopify."order" as o
        left join shopify.customer as c on o.customer_id = c.id
        where o.customer_id is not null and c.id is null""",
    "order_line.order_id": """select count(*) from shopify.order_line as l
        left join shopify."order" as o on l.order_id = o.id where o.id is null""",
    "order_line.variant_id": """select count(*) from shopify.order_line as l
        left join shopify.product_variant as v on l.variant_id = v.id
        where l.variant_id is not null and (v.id is null or v.product_id <> l.product_id)""",
    "order_line.sku": """select count(*) from shopify.order_line as l
        left join shopify.product_variant as v on l.sku = v.sku
        where l.sku <> '' and (v.id is null or v.id <> l.variant_id)""",
    "product_variant.product_id": """select count(*) from shopify.product_variant as v
        left join shopify.product as p on v.product_id = p.id where p.id is null""",
    "fulfillment.order_id": """select count(*) from shopify.fulfillment as f
        left join shopify."order" as o on f.order_id = o.id where o.id is null""",
    "refund.order_id": """select count(*) from shopify.refund as r
        left join shopify."order" as o on r.order_id = o.id where o.id is null""",
    "order_line_refund": """select count(*) from shopify.order_line_refund as lr
        left join shopify.refund as r on lr.refund_id = r.id
        left join shopify.order_line as l on lr.order_line_id = l.id
        where r.id is null or l.id is null or l.order_id <> r.order_id
            or lr.quantity > l.quantity""",
    "order_shipping_line.order_id": """select count(*) from shopify.order_shipping_line as s
        left join shopify."order" as o on s.order_id = o.id where o.id is null""",
    "order_discount_code.order_id": """select count(*) from shopify.order_discount_code as d
        left join shopify."order" as o on d.order_id = o.id where o.id is null""",
    "product_media": """select count(*) from shopify.product_media as m
        left join shopify.product as p on m.product_id = p.id
        left join shopify.media_image as i on m.media_id = i.media_id
        where p.id is null or i.media_id is null""",
    "collection_product": """select count(*) from shopify.collection_product as cp
        left join shopify.collection as c on cp.collection_id = c.id
        left join shopify.product as p on cp.product_id = p.id
        where c.id is null or p.id is null""",
    "product_tag.product_id": """select count(*) from shopify.product_tag as t
        left join shopify.product as p on t.product_id = p.id where p.id is null""",
}


@pytest.mark.parametrize("relation", sorted(ORPHANS))
def test_referential_integrity(con, relation: str) -> None:
    assert _scalar(con, ORPHANS[relation]) == 0, relation


def test_keys_are_unique(con) -> None:
    for table, key in [
        ("order", "id"), ("order_line", "id"), ("customer", "id"), ("product", "id"),
        ("product_variant", "id"), ("fulfillment", "id"), ("refund", "id"),
        ("order_line_refund", "id"), ("media_image", "media_id"), ("collection", "id"),
        ("product", "handle"), ("order", "name"),
        ("order_discount_code", "order_id, \"index\""), ("order_line", "order_id, \"index\""),
        ("product_tag", "product_id, \"index\""), ("collection_product", "collection_id, product_id"),
    ]:
        dupes = _scalar(
            con,
            f'select count(*) from (select {key} from shopify."{table}" group by all '
            "having count(*) > 1)",
        )
        assert dupes == 0, f"{table}({key})"


def test_order_money_adds_up(con) -> None:
    bad = _scalar(
        con,
        """select count(*) from shopify."order" as o
        left join (select order_id, sum(price * quantity) as items, sum(total_discount) as disc
                   from shopify.order_line group by order_id) as l on l.order_id = o.id
        left join shopify.order_shipping_line as s on s.order_id = o.id
        where o.total_line_items_price <> l.items or o.total_discounts <> l.disc
            or o.subtotal_price <> l.items - l.disc
            or o.total_price <> o.subtotal_price + o.total_tax + coalesce(s.discounted_price, 0)
            or o.total_price < 0""",
    )
    assert bad == 0


def test_row_counts_scale_with_orders(tmp_path: Path, demo_db) -> None:
    _, small = demo_db
    big = generate(tmp_path / "big.duckdb", orders=20_000, seed=42, as_of=AS_OF)
    assert big["order"] == 20_000
    assert small["order"] == 1000
    assert 2.2 * 20_000 <= big["order_line"] <= 2.8 * 20_000
    assert abs(big["customer"] - 20_000 / 3) <= 1
    assert big["product"] == 100 and small["product"] == 30
    assert big["product"] <= big["product_variant"] <= 4 * big["product"]
    for table in ("fulfillment", "refund", "order_line_refund", "order_shipping_line"):
        assert big[table] > 10 * small[table]


@pytest.mark.parametrize("orders", [0, -5])
def test_rejects_too_few_orders(tmp_path: Path, orders: int) -> None:
    with pytest.raises(ConfigError, match="--orders"):
        generate(tmp_path / "x.duckdb", orders=orders)


def test_rejects_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        generate(tmp_path / "nope" / "x.duckdb", orders=10)


def test_rejects_directory_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        generate(tmp_path, orders=10)


def test_rejects_bad_schema_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="schema"):
        generate(tmp_path / "x.duckdb", orders=10, schema='shop"ify; drop')


def test_custom_schema_and_domain(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    generate(path, orders=50, schema="raw_shop", shop_domain="shop.example.org", as_of=AS_OF)
    with duckdb.connect(str(path), read_only=True) as con:
        assert _scalar(con, "select domain from raw_shop.shop") == "shop.example.org"
        assert _scalar(con, 'select count(*) from raw_shop."order"') == 50


def test_locked_file_raises_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(60)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(ConfigError, match="locked.duckdb"):
            generate(path, orders=10)
    finally:
        holder.kill()
        holder.wait()


def test_non_duckdb_file_raises_config_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("this is not a database\n" * 100)
    with pytest.raises(ConfigError, match="notes.duckdb"):
        generate(path, orders=10)
