"""The demo generator makes customers and orders in slices (memory); the slicing must not show.

A slice boundary that changed a value (a window over the slice, a join to a temp table that only
holds the current slice, rows appended out of order) would change these digests.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from runner.errors import ConfigError
from runner.warehouse.demo import GRAPHQL_TABLES, TABLES, generate
from test_demo_digest import AS_OF, GOLDEN, table_digest


@pytest.mark.parametrize("chunk_rows", [7, 64])
def test_small_slices_write_the_golden_tables(tmp_path: Path, chunk_rows: int) -> None:
    """300 orders in slices of 7 (43 order slices, 15 customer slices) or 64: the pinned digests."""
    path = tmp_path / "demo.duckdb"
    counts = generate(path, orders=300, seed=42, as_of=AS_OF, chunk_rows=chunk_rows)
    with duckdb.connect(str(path), read_only=True) as con:
        actual = {table: (counts[table], table_digest(con, "shopify", table)) for table in TABLES}
    changed = {table: actual[table] for table in TABLES if actual[table] != GOLDEN[table]}
    assert not changed, f"slices of {chunk_rows} changed the demo tables (rows, digest): {changed}"


def test_graphql_shape_is_the_same_in_slices(tmp_path: Path) -> None:
    """The GraphQL publish script is split into phases too: one slice and slices of 5 agree."""
    digests = []
    for chunk_rows in (1_000_000, 5):
        path = tmp_path / f"graphql-{chunk_rows}.duckdb"
        generate(path, orders=120, seed=7, as_of=AS_OF, api="graphql", chunk_rows=chunk_rows)
        with duckdb.connect(str(path), read_only=True) as con:
            digests.append({table: table_digest(con, "shopify", table) for table in GRAPHQL_TABLES})
    assert digests[0] == digests[1]


def test_regenerating_in_slices_replaces_the_tables(tmp_path: Path) -> None:
    """A second run into the same file replaces (does not append to) the tables of the first."""
    path = tmp_path / "demo.duckdb"
    generate(path, orders=50, seed=1, as_of=AS_OF, chunk_rows=8)
    counts = generate(path, orders=30, seed=1, as_of=AS_OF, chunk_rows=8)
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute('select count(*) from shopify."order"').fetchone()[0] == counts["order"] == 30


def test_chunk_rows_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="chunk_rows must be a whole number >= 1"):
        generate(tmp_path / "x.duckdb", orders=10, chunk_rows=0)
