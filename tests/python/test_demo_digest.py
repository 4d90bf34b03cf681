"""The demo generator's output is pinned: a fixed seed and clock give these exact tables.

The digests were computed on the generator before its SQL moved out of Python f-strings
(issue 11), so any later change to what it writes (a value, a column type, the row order)
shows here and has to be made on purpose, with new digests.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from runner.warehouse.demo import TABLES, generate

AS_OF = datetime(2026, 1, 15, 12)

#: table -> (rows, md5 of its column names and types, then every row in stored order)
GOLDEN: dict[str, tuple[int, str]] = {
    "shop": (1, "9971eed7a4c938b91aadbbab66624aef"),
    "customer": (100, "35ba6a6773a7a3f119e5f8d2e973377c"),
    "collection": (12, "02fa184ee5bf665e157e3e2df0a078ed"),
    "product": (30, "dfd3472c5e398f5bcf5928a6de22d071"),
    "product_variant": (85, "4e614c91d931d220e372ca178271a026"),
    "product_media": (84, "aeb37dd434ca97aeb15463ce8add770a"),
    "media_image": (84, "658dd7c5577bebb7ef105f03b947f43d"),
    "collection_product": (58, "afd1d4870e8e3a137325ecdfaa8a3430"),
    "product_tag": (58, "f87965b24a9b5408796b757999242705"),
    "order": (300, "78bb0d8087f8506b35fa8b4c0737ae07"),
    "order_line": (740, "81482a1d26d0c98def2242136a316434"),
    "order_shipping_line": (281, "0dc42c62fc5523b700e370688f4c9fa5"),
    "order_discount_code": (62, "54d0df3791f9c0f094e52e667aafdc20"),
    "fulfillment": (304, "84153c7072c243cc41a5b73ea09de14e"),
    "refund": (20, "2bc256582c93b99529717977a1a8b5ed"),
    "order_line_refund": (35, "5eea1118bc56ae4e7431b6c7f79a39b7"),
}


def table_digest(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> str:
    """md5 over the column list with types, then each row in stored (rowid) order.

    Each value is cast to text on its own (NULL spelt apart), so the digest does not depend on
    how a DuckDB version formats whole rows.
    """
    columns = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    header = ",".join(f"{name}:{data_type}" for name, data_type in columns)
    values = ", ".join(f"coalesce(cast(\"{name}\" as varchar), '\\N')" for name, _ in columns)
    (digest,) = con.execute(
        f"select md5(? || chr(10) || coalesce(string_agg(concat_ws(chr(31), {values}), chr(30) "
        f'order by rowid), \'\')) from "{schema}"."{table}"',
        [header],
    ).fetchone()
    return digest


def test_tables_match_the_golden_digests(tmp_path: Path) -> None:
    path = tmp_path / "demo.duckdb"
    counts = generate(path, orders=300, seed=42, as_of=AS_OF)
    with duckdb.connect(str(path), read_only=True) as con:
        actual = {table: (counts[table], table_digest(con, "shopify", table)) for table in TABLES}
    changed = {table: actual[table] for table in TABLES if actual[table] != GOLDEN.get(table)}
    assert not changed, f"demo tables changed (rows, digest): {changed}"
