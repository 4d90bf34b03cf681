"""Generate a deterministic demo Shopify store in DuckDB, in the shape an EL tool lands it.

Everything is computed in DuckDB SQL from `range()` and hashes of (seed, salt, row number), so the
same seed (and the same `as_of`) gives identical tables whatever the thread count, and a million
orders take seconds. The data deliberately contains the awkward cases the feed models must handle:
delimiters, quotes, line breaks and tabs in titles, HTML in descriptions, non-ASCII and emoji,
messy and shared e-mails, guest orders, cancellations, refunds, split fulfillments, odd SKUs.

The SQL lives in `sql/*.sql` (package data, linted by sqlfluff). It reads its inputs through
DuckDB variables (`getvariable('seed')`, ...), which the generator sets as bound parameters, so no
value is spliced into SQL text; only the schema name is, validated and quoted, where DuckDB takes
no parameter (`create schema`, `use`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb

from runner.errors import ConfigError
from runner.warehouse.sql import identifier

#: Every raw table written, in creation order.
TABLES: tuple[str, ...] = (
    "shop",
    "customer",
    "collection",
    "product",
    "product_variant",
    "product_media",
    "media_image",
    "collection_product",
    "product_tag",
    "order",
    "order_line",
    "order_shipping_line",
    "order_discount_code",
    "fulfillment",
    "refund",
    "order_line_refund",
)

#: Every raw table written in the GraphQL shape (`api="graphql"`, publish_graphql.sql).
GRAPHQL_TABLES: tuple[str, ...] = (
    "shop",
    "customer",
    "collection",
    "product",
    "product_variant",
    "product_media",
    "media_image",
    "collection_product",
    "product_tag",
    "order",
    "order_line",
    "order_shipping_line",
    "order_discount_code",
    "fulfillment",
    "fulfillment_tracking_info",
    "refund",
    "refund_line_item",
)

#: The Shopify API shapes the generator lands the store in (Fivetran's REST or GraphQL connector).
APIS: tuple[str, ...] = ("rest", "graphql")

#: The generator's SQL files, run in this order: macros and word lists, then the temp tables
#: (each file reads those of the files before it), then `publish` copies them into the schema.
SCRIPTS: tuple[str, ...] = (
    "macros", "words", "customers", "catalog", "orders", "fulfillments", "order_summary", "publish",
)

#: The scripts for the GraphQL shape: the same store, published by publish_graphql.sql.
GRAPHQL_SCRIPTS: tuple[str, ...] = (*SCRIPTS[:-1], "publish_graphql")

_SCHEMA_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
# The seed is hashed as a BIGINT.
_SEED_MIN, _SEED_MAX = -(2**63), 2**63 - 1


def _script(name: str) -> str:
    """The text of one of the generator's SQL files (`SCRIPTS`)."""
    return resources.files(__package__).joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def _validate(duckdb_path: Path, orders: int, seed: int, schema: str, shop_domain: str, api: str) -> Path:
    if api not in APIS:
        raise ConfigError(f"demo data: --api must be one of {', '.join(APIS)}, got {api!r}")
    if isinstance(orders, bool) or not isinstance(orders, int) or orders < 1:
        raise ConfigError(f"demo data: --orders must be a whole number >= 1, got {orders!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not _SEED_MIN <= seed <= _SEED_MAX:
        raise ConfigError(
            f"demo data: --seed must be a whole number from {_SEED_MIN} to {_SEED_MAX}, got {seed!r}"
        )
    if not isinstance(schema, str) or not _SCHEMA_RE.match(schema):
        raise ConfigError(
            f"demo data: schema {schema!r} is not a plain identifier (letters, digits, underscore)"
        )
    if not isinstance(shop_domain, str) or not _DOMAIN_RE.match(shop_domain):
        raise ConfigError(
            f"demo data: shop domain {shop_domain!r} is not a host name like demo-shop.example.com"
        )
    path = Path(duckdb_path).expanduser()
    if path.exists() and path.is_dir():
        raise ConfigError(f"demo data: {path} is a directory; give the path of a DuckDB file")
    if not path.parent.is_dir():
        raise ConfigError(
            f"demo data: folder {path.parent} does not exist; create it or choose another path"
        )
    return path


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path))
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise ConfigError(
                f"demo data: DuckDB file {path} is in use by another process; close it "
                "(dbt, a DuckDB shell) and retry"
            ) from exc
        raise ConfigError(f"demo data: cannot open DuckDB file {path}: {exc}") from exc
    except duckdb.Error as exc:
        raise ConfigError(f"demo data: cannot open DuckDB file {path}: {exc}") from exc


def generate(
    duckdb_path: Path,
    orders: int = 1000,
    seed: int = 42,
    schema: str = "shopify",
    shop_domain: str = "demo-shop.example.com",
    *,
    as_of: datetime | None = None,
    api: str = "rest",
) -> dict[str, int]:
    """Write every raw Shopify table into schema `schema` of the DuckDB file (replacing them); return rows per table.

    All timestamps are placed relative to `as_of` (UTC, default: the start of the current hour),
    so `_fivetran_synced` is recent enough for dbt source freshness. The same seed and `as_of`
    give identical tables. `api="graphql"` lands the same store in the GraphQL connector's shape.
    """
    path = _validate(duckdb_path, orders, seed, schema, shop_domain, api)
    # Both shapes are published from the same temp tables: only the last script differs.
    scripts = SCRIPTS if api == "rest" else GRAPHQL_SCRIPTS
    tables = TABLES if api == "rest" else GRAPHQL_TABLES
    if as_of is None:
        as_of = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if as_of.tzinfo is not None:
        as_of = as_of.astimezone(UTC).replace(tzinfo=None)
    # Whole seconds: the clock has always been taken to the second.
    as_of = as_of.replace(microsecond=0)
    variables = {
        "seed": seed,
        "as_of": as_of,
        "n_orders": orders,
        "n_customers": max(10, (orders + 2) // 3),
        "n_products": max(30, orders // 200),
        "shop_domain": shop_domain,
    }

    con = _connect(path)
    try:
        con.execute("set enable_progress_bar = false")
        for name, value in variables.items():
            # The name is one of ours; the value is a bound parameter.
            con.execute(f"set variable {name} = ?", [value])
        # Qualified by the database: a file named like the schema (shopify.duckdb) would make a
        # bare `shopify` ambiguous between the two.
        (database,) = con.execute("select current_database()").fetchone()
        target = f"{identifier(database)}.{identifier(schema)}"
        con.execute("begin transaction")
        con.execute(f"create schema if not exists {target}")
        # The scripts name their tables without a schema: `use` puts them in this one, while the
        # temp tables they read stay first on the search path.
        con.execute(f"use {target}")
        for name in scripts:
            con.execute(_script(name))
        con.execute("commit")
        counts = {
            table: con.execute(f"select count(*) from {target}.{identifier(table)}").fetchone()[0]
            for table in tables
        }
    except duckdb.Error:
        try:
            con.execute("rollback")
        except duckdb.Error:
            pass
        raise
    finally:
        con.close()
    return counts
