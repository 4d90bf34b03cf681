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

Customers and orders are generated in slices of `chunk_rows` numbers, each slice's temp tables
appended to the published ones and dropped, so memory stays flat in `--orders` (10M orders fit in
well under 1.5 GiB). Every value is a function of the row's own number (and of the catalogue, made
in one pass), never of the slice, and slices are appended in number order: any slicing writes the
same tables, row for row (tests/python/test_demo_chunks.py).
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

#: Which scripts make the customers and which the orders: each runs once per slice.
CUSTOMER_SCRIPTS: tuple[str, ...] = ("customers",)
ORDER_SCRIPTS: tuple[str, ...] = ("orders", "fulfillments", "order_summary")

#: Customers (or orders) per slice. About 250 MiB of temp tables per slice of orders at this size;
#: larger slices gain little (each slice is one set of bulk statements).
CHUNK_ROWS = 200_000

#: DuckDB's memory cap for the generator's own connection. DuckDB keeps the blocks it writes
#: cached up to its cap (80% of RAM by default), so without this the RSS grows with the store
#: (1.8 GiB at 1M orders) although every slice is done with; above it, blocks are evicted (the
#: written ones are on disk already) or spill to DuckDB's temp directory.
MEMORY_LIMIT = "1GB"

#: The published tables each slice appends to; the rest are written once.
_CUSTOMER_TABLES = frozenset({"customer"})
_ORDER_TABLES = frozenset({
    "order", "order_line", "order_shipping_line", "order_discount_code", "fulfillment",
    "fulfillment_tracking_info", "refund", "order_line_refund", "refund_line_item",
})
# A publish statement: `create or replace table <name> as ...` (the scripts write nothing else
# that creates a table). The name may be quoted ("order").
_CREATE_RE = re.compile(r'^create or replace table ("?)([a-z_]+)\1 as\b')

_SCHEMA_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
# The seed is hashed as a BIGINT.
_SEED_MIN, _SEED_MAX = -(2**63), 2**63 - 1


def _script(name: str) -> str:
    """The text of one of the generator's SQL files (`SCRIPTS`)."""
    return resources.files(__package__).joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def _publish_statements(script: str) -> dict[str, list[str]]:
    """The statements of a publish script by phase: `once` (drops, shop, catalogue), `customer`
    and `order` (appended to once per slice)."""
    phases: dict[str, list[str]] = {"once": [], "customer": [], "order": []}
    # Statements end with `;` at the end of a line; no string literal in the scripts does.
    for statement in re.split(r";\s*\n", _script(script)):
        body = "\n".join(line for line in statement.splitlines() if not line.lstrip().startswith("--")).strip()
        if not body:
            continue
        match = _CREATE_RE.match(body)
        table = match.group(2) if match else None
        phase = "customer" if table in _CUSTOMER_TABLES else "order" if table in _ORDER_TABLES else "once"
        phases[phase].append(body)
    return phases


def _appending(statement: str) -> str:
    """A slice after the first appends: `create or replace table t as <select>` -> `insert into t <select>`."""
    return _CREATE_RE.sub(lambda match: f"insert into {match.group(1)}{match.group(2)}{match.group(1)}", statement, count=1)


def _slices(total: int, size: int) -> list[tuple[int, int]]:
    return [(low, min(low + size, total)) for low in range(0, total, size)]


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
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, int]:
    """Write every raw Shopify table into schema `schema` of the DuckDB file (replacing them); return rows per table.

    All timestamps are placed relative to `as_of` (UTC, default: the start of the current hour),
    so `_fivetran_synced` is recent enough for dbt source freshness. The same seed and `as_of`
    give identical tables. `api="graphql"` lands the same store in the GraphQL connector's shape.
    Customers and orders are made `chunk_rows` at a time (memory); the tables do not depend on it.
    """
    path = _validate(duckdb_path, orders, seed, schema, shop_domain, api)
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ConfigError(f"demo data: chunk_rows must be a whole number >= 1, got {chunk_rows!r}")
    # Both shapes are published from the same temp tables: only the last script differs.
    publish = _publish_statements(SCRIPTS[-1] if api == "rest" else GRAPHQL_SCRIPTS[-1])
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
        con.execute(f"set memory_limit = '{MEMORY_LIMIT}'")
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
        for name in (name for name in SCRIPTS[:-1] if name not in (*CUSTOMER_SCRIPTS, *ORDER_SCRIPTS)):
            con.execute(_script(name))
        for statement in publish["once"]:
            con.execute(statement)
        _in_slices(con, "customer", variables["n_customers"], chunk_rows, CUSTOMER_SCRIPTS, publish["customer"])
        # The orders read each buyer's id and e-mail: from the published customers, as the slices
        # of temp customers are gone by now.
        con.execute(f"create or replace temp view _customer as select id, email from {target}.customer")
        _in_slices(con, "order", orders, chunk_rows, ORDER_SCRIPTS, publish["order"])
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


def _in_slices(
    con: duckdb.DuckDBPyConnection, kind: str, total: int, size: int, scripts: tuple[str, ...], publish: list[str]
) -> None:
    """Run `scripts` for each slice of numbers 0..total (variables `<kind>_lo`, `<kind>_hi`), publish
    the slice (the first creates the tables, the rest append), then drop the slice's temp tables."""
    before = _temp_tables(con)
    for index, (low, high) in enumerate(_slices(total, size)):
        # The names are ours; the values are bound parameters.
        con.execute(f"set variable {kind}_lo = ?", [low])
        con.execute(f"set variable {kind}_hi = ?", [high])
        for name in scripts:
            con.execute(_script(name))
        for statement in publish:
            con.execute(statement if index == 0 else _appending(statement))
        for table in sorted(_temp_tables(con) - before):
            con.execute(f"drop table temp.main.{identifier(table)}")


def _temp_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {name for (name,) in con.execute("select table_name from duckdb_tables() where temporary").fetchall()}
