"""Incremental builds on a real PostgreSQL server (the postgres__ feeds_replace strategy): after raw
changes (deletes, a test order, an e-mail and a SKU that move, a late fulfillment), the second
`feeds run --target postgres` runs the models incrementally and its marts and rejects equal a
full-refresh build of a copy of the same database, row for row.

Skips without PostgreSQL, unless FEEDS_REQUIRE_TARGETS is set (CI)."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta

import duckdb
from test_golden import AS_OF
from test_incremental import COMPARED, INITIAL
from test_target_postgres import environment, postgres  # noqa: F401 (the session's server)
from warehouse_servers import PostgresServer
from workspace import REPO, Workspace

from runner.warehouse import target as targets
from runner.warehouse.demo import TABLES, generate

CHANGES = f"""
update shopify."order" set _fivetran_deleted = true, _fivetran_synced = '{AS_OF}'
    where id = (select id from shopify."order" where not test order by id limit 1 offset 10);
update shopify."order" set test = true, _fivetran_synced = '{AS_OF}'
    where id = (select id from shopify."order" where not test order by id limit 1 offset 20);
update shopify.customer set email = 'moved.pg@example.com', _fivetran_synced = '{AS_OF}'
    where id = (select id from shopify.customer where email is not null order by id limit 1 offset 5);
update shopify.product_variant set sku = sku || '-PG', _fivetran_synced = '{AS_OF}'
    where id = (select id from shopify.product_variant where sku is not null order by id limit 1 offset 3);
update shopify.order_line set _fivetran_deleted = true, _fivetran_synced = '{AS_OF}'
    where id = (select min(id) from shopify.order_line
                where order_id = (select id from shopify."order" order by id limit 1 offset 30));
insert into shopify.fulfillment (id, order_id, status, created_at, tracking_company, tracking_number, _fivetran_synced)
    select 9100000000009, id, 'success', '{AS_OF}', 'UPS', 'PG-LATE', '{AS_OF - timedelta(hours=1)}'
    from shopify."order" order by id limit 1 offset 40;
"""

PRODUCT_TABLES = ["product", "product_variant", "product_media", "media_image", "product_tag", "collection_product",
                  "collection"]


def run(space: Workspace, env: dict[str, str], *args: str) -> dict:
    result = space.feeds("run", "--no-upload", "--target", "postgres", "--json", *args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    return json.loads(result.stdout)["run"]["dbt"]


def psql(server: PostgresServer, database: str, sql: str) -> str:
    done = subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
                          env={**os.environ, **server.env(database)}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def digests(server: PostgresServer, database: str) -> dict[str, str]:
    """Each compared model's row count and a digest of its rows, whatever their order, without the
    bookkeeping columns of an incremental table (synced_watermark differs from a full build's)."""
    return {model: psql(server, database, f"""
        select count(*) || ' ' || md5(coalesce(string_agg(md5(r::text), '' order by md5(r::text)), ''))
        from (select to_jsonb(t) - 'synced_watermark' - 'built_at' - 'is_tombstone' as r from listrak.{model} as t) as rows""").strip() for model in COMPARED}


def test_incremental_build_on_postgres_equals_a_full_refresh(postgres: PostgresServer, tmp_path) -> None:  # noqa: F811
    postgres.psql("create database incremental")
    env = postgres.env("incremental")
    space = Workspace(tmp_path / "incremental", generate_data=False)
    local = space.root / "demo.duckdb"
    generate(local, orders=600, seed=11, as_of=AS_OF)
    with duckdb.connect(str(local)) as connection:
        # Two days old, but for the newest order, customer and product (see test_incremental).
        for table in TABLES:
            connection.execute(f"update shopify.\"{table}\" set _fivetran_synced = '{INITIAL}'")
        for table in ["order", "customer", "product"]:
            connection.execute(f"""update shopify."{table}" set _fivetran_synced = '{AS_OF - timedelta(days=1)}'
                                   where id = (select max(id) from shopify."{table}")""")
        connection.execute("alter table shopify.order_line add column _fivetran_deleted boolean default false")
    with environment(env):
        targets.load_demo(targets.resolve(REPO, REPO / "profiles", "postgres"), local, "shopify", list(TABLES))

    first = run(space, env)
    assert {entry["mode"] for entry in first["incremental"].values()} == {"full"}
    psql(postgres, "incremental", CHANGES)
    second = run(space, env)
    assert {entry["mode"] for entry in second["incremental"].values()} == {"incremental"}, second["incremental"]
    assert psql(postgres, "incremental", "select count(distinct synced_watermark) from listrak.int_orders_prepared"
                ).strip() == "2"

    postgres.psql("create database reference template incremental")
    reference = Workspace(tmp_path / "reference", generate_data=False)
    full = run(reference, postgres.env("reference"), "--full-refresh")
    assert {entry["mode"] for entry in full["incremental"].values()} == {"full"}
    assert digests(postgres, "incremental") == digests(postgres, "reference")

    # The connector resyncs every product row (as an initial sync of them): the products model's change
    # rows are all new, so it is rebuilt whole (its table dropped first) while the order models update.
    psql(postgres, "incremental", "; ".join(
        f"update shopify.{table} set _fivetran_synced = '{AS_OF + timedelta(hours=1)}'"
        for table in PRODUCT_TABLES))
    third = run(space, env)["incremental"]
    products = third.pop("int_products_prepared")
    assert products["mode"] == "full" and "% of its change rows were synced after" in products["reason"], products
    # The products rejects read the same change view; the products mart is downstream of both.
    rejects, mart = third.pop("listrak_products_rejects"), third.pop("listrak_products")
    assert rejects["mode"] == "full" and "% of its change rows were synced after" in rejects["reason"], rejects
    assert mart["mode"] == "full" and mart["reason"].startswith("downstream of "), mart
    assert {entry["mode"] for entry in third.values()} == {"incremental"}, third
    postgres.psql("create database resynced template incremental")
    resynced = Workspace(tmp_path / "resynced", generate_data=False)
    run(resynced, postgres.env("resynced"), "--full-refresh")
    assert digests(postgres, "incremental") == digests(postgres, "resynced")

