"""The four feeds as dbt exposures (type application, owner from vars): lineage in `dbt docs` and
`dbt ls --select +exposure:...`. dbt `ls` parses only; no warehouse is touched."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_dbt

FEEDS = {"orders": "listrak_orders", "order_items": "listrak_order_items",
         "customers": "listrak_customers", "products": "listrak_products"}


def ls(tmp_path: Path, *args: str, dbt_vars: dict | None = None) -> list[str]:
    listed = run_dbt(["ls", "--quiet", *args], tmp_path / "feeds.duckdb", dbt_vars=dbt_vars)
    assert listed.success, listed.exception
    return list(listed.result)


def test_each_feed_is_an_application_exposure_owned_by_the_var(tmp_path: Path) -> None:
    lines = ls(tmp_path, "--resource-type", "exposure", "--output", "json",
               "--output-keys", "name", "type", "owner", "depends_on",
               dbt_vars={"feeds_owner_name": "CRM ops", "feeds_owner_email": "crm-ops@shop.test"})
    exposures = {item["name"]: item for item in map(json.loads, lines)}
    assert set(exposures) == {f"listrak_{feed}_feed" for feed in FEEDS}
    for feed, mart in FEEDS.items():
        exposure = exposures[f"listrak_{feed}_feed"]
        assert exposure["type"] == "application"
        assert exposure["owner"]["name"] == "CRM ops" and exposure["owner"]["email"] == "crm-ops@shop.test"
        assert exposure["depends_on"]["nodes"] == [f"model.listrak_feeds.{mart}"]


def test_selecting_upstream_of_an_exposure_reaches_the_mart_and_its_sources(tmp_path: Path) -> None:
    names = set(ls(tmp_path, "--select", "+exposure:listrak_orders_feed", "--output", "name"))
    assert {"listrak_orders", "int_orders_prepared", "stg_shopify__orders"} <= names
    assert "listrak_products" not in names
    assert any(name.endswith("order") or "shopify.order" in name for name in names)  # the raw source
