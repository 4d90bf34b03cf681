"""A throwaway project workspace for end-to-end tests of the `feeds` command, and the feed contract."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from runner.warehouse.demo import generate

REPO = Path(__file__).resolve().parents[2]
FEEDS = Path(sys.executable).with_name("feeds")

# The feed contract (../shared/spec/listrak-feeds.md): file name prefix and header, in order.
META = [f"Meta{i}" for i in range(1, 6)]
SPEC = {
    "orders": ("Listrak_Order_Feed_", [
        "Email", "OrderNumber", "DateEntered", "OrderTotal", "ItemTotal", "TaxTotal", "ShippingTotal",
        "HandlingTotal", "Status", "ShipDate", "TrackingNumber", "ShippingMethod", "CouponCode",
        "DiscountTotal", "Source", *META]),
    "order_items": ("Listrak_OrderItem_Feed_", [
        "OrderNumber", "Sku", "Quantity", "Price", "Status", "ShipDate", "TrackingNumber", "ShippingMethod",
        "DiscountedPrice", "ItemTotal", *META]),
    "customers": ("Listrak_Customer_", [
        "Email", "FirstName", "LastName", "Gender", "Birthday", "ZipCode", "CustomerNumber", "Registered", *META]),
    "products": ("Listrak_Product_Feed_", [
        "Sku", "Title", "ImageUrl", "LinkUrl", "Description", "Price", "Brand", "Category", "SubCategory",
        "SalePrice", "SaleStartDate", "SaleEndDate", "OnSale", "IsClearance", "IsOutlet", "QOH", "InStock",
        "MasterSku", "ReviewProductID", "ReviewUrl", "Discontinued", "Size", "Color", "Style", "Gender", "MSRP",
        *META]),
}
MARTS = {"orders": "listrak_orders", "order_items": "listrak_order_items",
         "customers": "listrak_customers", "products": "listrak_products"}


def clean_environment() -> dict[str, str]:
    """This process's environment without FEEDS_* variables (scripts/test sets FEEDS_DUCKDB_PATH)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("FEEDS_")}


def feeds_command(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `feeds` console script in a clean environment plus `env`."""
    return subprocess.run([str(FEEDS), *args], capture_output=True, text=True, check=False,
                          env={**clean_environment(), **(env or {})}, input="", timeout=600)


class Workspace:
    """A throwaway DuckDB file, output, state and destination folders, and a feeds.yml naming them."""

    def __init__(self, root: Path, orders: int = 600, seed: int = 11, generate_data: bool = True) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.duckdb = root / "feeds.duckdb"
        self.out = root / "out"
        self.delivered = root / "delivered"
        self.config = root / "feeds.yml"
        self.config.write_text(
            f"project_dir: {REPO}\nduckdb_path: feeds.duckdb\noutput_dir: out\nstate_dir: state\n"
            "destination:\n  type: local\n  path: delivered\n",
            encoding="utf-8",
        )
        if generate_data:
            generate(self.duckdb, orders=orders, seed=seed)

    @classmethod
    def existing(cls, root: Path) -> "Workspace":
        """A workspace copied from another one: same relative layout, data already there."""
        return cls(root, generate_data=False)

    def sql(self, statement: str) -> list[tuple]:
        with duckdb.connect(str(self.duckdb)) as connection:
            return connection.execute(statement).fetchall()

    def feeds(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        environ = clean_environment()
        environ.update(env or {})
        return subprocess.run(
            [str(FEEDS), *args], cwd=self.root, env=environ, capture_output=True, text=True, timeout=600,
            check=False, input="",
        )

    def files(self, folder: Path) -> list[Path]:
        return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


def today_in_feed_zone() -> str:
    return datetime.now(ZoneInfo("America/New_York")).strftime("%Y%m%d")


