"""`feeds run --feeds X` on a warehouse where the other marts were never built: the tests that read
another feed's mart (order items' Sku in products, the all-feeds singular tests) are left out, not
run against a missing table."""

from __future__ import annotations

from pathlib import Path

from workspace import Workspace


def test_one_feed_runs_on_a_fresh_warehouse(tmp_path: Path) -> None:
    space = Workspace(tmp_path / "fresh", orders=300)
    result = space.feeds("run", "--feeds", "products")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [path.name.split("_2")[0] for path in space.files(space.delivered)] == ["Listrak_Product_Feed"]
    tables = {name for (name,) in space.sql("select table_name from information_schema.tables")}
    assert "listrak_products" in tables and "listrak_order_items" not in tables
