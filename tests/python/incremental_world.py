"""Random change sequences on the raw Shopify tables, for tests/python/test_incremental_property.py.

A dbt build costs seconds, so each generated sequence does not get a build of its own: every
sequence owns a disjoint slice of the store (its customers, products, variants, orders, e-mails and
SKUs, all named `pt<slice>-...`), step k of every sequence is applied together, and one build per
step serves them all. A divergence between two builds is then traced back to the slices whose rows
differ, and their operations are printed so the sequence can be replayed.

Operations are drawn by hypothesis as plain tuples naming what to do and small indices into the
slice's own entities (taken modulo how many exist), so every drawn operation applies to whatever
state the slice has reached. Every row an operation writes gets `_fivetran_synced` of the step,
as Fivetran stamps the rows of a sync, except the late-arriving rows, stamped before the previous
build's newest row but within the project's lookback window (var incremental_lookback_hours).

Rows are upserted as Fivetran merges them: delete by key, insert. Only the columns in `COLUMNS`
are set; every other column is copied from one demo row of the same table, so the slices look like
the demo store however many columns the connector lands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
from hypothesis import strategies as st

#: Slice ids: every id a slice creates is BASE_ID + slice * SPAN + a counter (no demo id is this big).
BASE_ID = 9 * 10**15
SPAN = 10_000
#: Every name a slice creates (order names, e-mails, SKUs, handles) starts with this token.
SLICE_TOKEN = re.compile(r"(?i)(?<![a-z0-9])pt(\d+)-")

#: Columns the generator sets, per raw table (the key columns first); the rest come from a demo row.
COLUMNS: dict[str, tuple[str, ...]] = {
    "customer": ("id", "email", "first_name", "last_name", "state", "created_at", "updated_at",
                 "_fivetran_deleted", "_fivetran_synced"),
    "order": ("id", "name", "order_number", "email", "customer_id", "created_at", "updated_at", "processed_at",
              "cancelled_at", "cancel_reason", "financial_status", "fulfillment_status", "subtotal_price",
              "total_line_items_price", "total_discounts", "total_tax", "total_price", "test",
              "billing_address_zip", "shipping_address_zip", "_fivetran_deleted", "_fivetran_synced"),
    "order_line": ("id", "order_id", "index", "product_id", "variant_id", "sku", "title", "variant_title", "price",
                   "quantity", "total_discount", "fulfillment_status", "gift_card", "_fivetran_deleted",
                   "_fivetran_synced"),
    "order_shipping_line": ("id", "order_id", "title", "code", "price", "discounted_price", "_fivetran_synced"),
    "order_discount_code": ("order_id", "index", "code", "amount", "type", "_fivetran_synced"),
    "fulfillment": ("id", "order_id", "status", "created_at", "updated_at", "tracking_company", "tracking_number",
                    "_fivetran_synced"),
    "refund": ("id", "order_id", "created_at", "processed_at", "restock", "_fivetran_synced"),
    "order_line_refund": ("id", "refund_id", "order_line_id", "quantity", "subtotal", "total_tax", "restock_type",
                          "_fivetran_synced"),
    "product": ("id", "title", "handle", "product_type", "status", "created_at", "updated_at", "published_at",
                "_fivetran_deleted", "_fivetran_synced"),
    "product_variant": ("id", "product_id", "sku", "title", "price", "compare_at_price", "inventory_quantity",
                        "inventory_policy", "position", "available_for_sale", "_fivetran_deleted",
                        "_fivetran_synced"),
    "product_media": ("product_id", "media_id", "position", "_fivetran_synced"),
    "media_image": ("media_id", "image_id", "image_url", "image_alt_text", "_fivetran_synced"),
    "product_tag": ("product_id", "index", "value", "_fivetran_synced"),
    "collection_product": ("collection_id", "product_id", "_fivetran_deleted", "_fivetran_synced"),
    "collection": ("id", "title", "handle", "published_at", "_fivetran_deleted", "_fivetran_synced"),
}
KEYS: dict[str, tuple[str, ...]] = {
    "order_discount_code": ("order_id", "index"),
    "product_media": ("product_id", "media_id"),
    "media_image": ("media_id",),
    "product_tag": ("product_id", "index"),
    "collection_product": ("collection_id", "product_id"),
}
#: Which demo row each table's other columns are copied from: a plain, valid one.
TEMPLATE_FILTER = {
    "customer": "email is not null and state = 'enabled' and not coalesce(_fivetran_deleted, false)",
    "order": "not test and not coalesce(_fivetran_deleted, false) and cancelled_at is null and email is not null",
    "order_line": "not gift_card and sku is not null",
    "fulfillment": "status = 'success'",
    "product": "status = 'active' and published_at is not null and not coalesce(_fivetran_deleted, false)",
    "collection": "published_at is not null and not coalesce(_fivetran_deleted, false)",
}
#: Soft-delete columns Fivetran lands on these tables too, though the demo store has none.
ADDED_DELETE_COLUMNS = ("order_line", "product_variant", "collection_product")

#: Caps on rows made invalid at once, over all slices, so the quarantine thresholds
#: (rejects_error_share 5% of a feed) are never what fails a build: a build failing on both
#: sides would prove nothing. An invalidation beyond its cap is logged as skipped.
INVALID_CAPS = {"order_email": 40, "customer_email": 25, "sku_empty": 12, "sku_duplicate": 8}


def key_of(table: str) -> tuple[str, ...]:
    return KEYS.get(table, ("id",))


# -- the operations -----------------------------------------------------------------------------

_i = st.integers(0, 7)
OPERATION = st.one_of(
    st.tuples(st.just("new_order"), _i, st.lists(_i, min_size=1, max_size=3), st.booleans()),
    st.tuples(st.just("order_edit"), _i, st.sampled_from(["total", "paid", "zip", "cancel", "customer"])),
    st.tuples(st.just("order_delete"), _i),
    st.tuples(st.just("line_delete"), _i, _i),
    st.tuples(st.just("line_edit"), _i, _i),
    st.tuples(st.just("fulfill"), _i, st.booleans(), st.booleans()),
    st.tuples(st.just("refund"), _i, st.booleans(), st.booleans()),
    st.tuples(st.just("test_order"), _i),
    st.tuples(st.just("order_email"), _i, st.sampled_from(["other", "malformed", "none", "restore"])),
    st.tuples(st.just("shipping"), _i),
    st.tuples(st.just("discount"), _i),
    st.tuples(st.just("customer_email"), _i, st.sampled_from(["collide", "new", "restore", "malformed", "none"])),
    st.tuples(st.just("customer_edit"), _i),
    st.tuples(st.just("customer_delete"), _i),
    st.tuples(st.just("sku"), _i, st.sampled_from(["new", "collide", "empty", "restore"])),
    st.tuples(st.just("variant_edit"), _i, st.sampled_from(["price", "sale", "stock"])),
    st.tuples(st.just("variant_delete"), _i),
    st.tuples(st.just("new_variant"), _i),
    st.tuples(st.just("product_edit"), _i, st.sampled_from(["title", "type", "draft", "active", "unpublish"])),
    st.tuples(st.just("product_delete"), _i),
    st.tuples(st.just("tag"), _i, st.sampled_from(["clearance", "outlet", "gender:women", "summer"]), st.booleans()),
    st.tuples(st.just("collection"), _i, _i, st.booleans()),
    st.tuples(st.just("collection_edit"), _i, st.sampled_from(["title", "unpublish", "publish", "delete"])),
    st.tuples(st.just("image"), _i),
    st.tuples(st.just("media_add"), _i),
)


def sequences(steps: int) -> st.SearchStrategy[list[list[tuple]]]:
    """One change sequence: `steps` runs, each with up to three operations."""
    return st.lists(st.lists(OPERATION, max_size=3), min_size=steps, max_size=steps)


# -- the store model ----------------------------------------------------------------------------

@dataclass
class Slice:
    number: int
    counter: int = 0
    customers: list[int] = field(default_factory=list)
    emails: dict[int, str] = field(default_factory=dict)  # a customer's own e-mail
    orders: list[int] = field(default_factory=list)
    lines: dict[int, list[int]] = field(default_factory=dict)
    products: list[int] = field(default_factory=list)
    variants: list[int] = field(default_factory=list)
    skus: dict[int, str] = field(default_factory=dict)  # a variant's own SKU
    media: dict[int, int] = field(default_factory=dict)  # product -> media id
    shipping: dict[int, int] = field(default_factory=dict)  # order -> shipping line id
    discounts: dict[int, int] = field(default_factory=dict)  # order -> discount codes so far
    positions: dict[int, int] = field(default_factory=dict)  # product -> variants so far
    tags: dict[int, int] = field(default_factory=dict)  # product -> tags so far
    collections: list[int] = field(default_factory=list)  # the slice's own collections
    log: list[str] = field(default_factory=list)

    def new_id(self) -> int:
        self.counter += 1
        assert self.counter < SPAN, "a slice ran out of ids"
        return BASE_ID + self.number * SPAN + self.counter

    def token(self) -> str:
        return f"pt{self.number}-"


def pick(items: list[int], index: int) -> int | None:
    return items[index % len(items)] if items else None


class World:
    """The rows the slices own, the changes of the current step, and the step's clock."""

    def __init__(self, slices: int, start: datetime, collections: list[int], lookback: timedelta) -> None:
        self.start = start
        self.collections = collections
        # Runs further apart than the lookback window, so a build recomputes what changed rather than
        # everything of the last hours; late rows land within the window, before the previous run's
        # newest row (without a window, a quarter of an hour before it).
        self.gap = lookback + timedelta(hours=1)
        self.lateness = lookback / 2 if lookback else timedelta(minutes=15)
        self.rows: dict[str, dict[tuple, dict[str, Any]]] = {table: {} for table in COLUMNS}
        self.changed: dict[str, set[tuple]] = {table: set() for table in COLUMNS}
        self.invalid: dict[str, set[int]] = {name: set() for name in INVALID_CAPS}
        self.slices = [Slice(number) for number in range(slices)]
        self.step = 0

    # The clock: the base rows are synced at `start`, the rows of step k one gap later each.
    def now(self) -> datetime:
        return self.start + self.gap * self.step

    def late(self) -> datetime:
        return self.start + self.gap * (self.step - 1) - self.lateness

    def put(self, table: str, row: dict[str, Any], synced: datetime | None = None) -> dict[str, Any]:
        row = {**row, "_fivetran_synced": synced or self.now()}
        missing = set(COLUMNS[table]) - set(row)
        assert not missing, f"{table}: {sorted(missing)} not set"
        key = tuple(row[column] for column in key_of(table))
        self.rows[table][key] = row
        self.changed[table].add(key)
        return row

    def get(self, table: str, *key: Any) -> dict[str, Any]:
        return self.rows[table][tuple(key)]

    def touch(self, table: str, *key: Any, synced: datetime | None = None, **changes: Any) -> dict[str, Any]:
        row = {**self.get(table, *key), **changes}
        if "updated_at" in row:
            row["updated_at"] = self.now()
        return self.put(table, row, synced)

    # -- the slices' starting entities --------------------------------------------------------

    def create_base(self) -> None:
        for piece in self.slices:
            collection = piece.new_id()
            piece.collections.append(collection)
            self.put("collection", {"id": collection, "title": f"Slice {piece.number} picks",
                                    "handle": f"{piece.token()}picks", "published_at": self.start - timedelta(days=90),
                                    "_fivetran_deleted": False})
            for number in range(3):
                self._new_customer(piece, number)
            for number in range(2):
                product = self._new_product(piece, number)
                for _ in range(2):
                    self._new_variant(piece, product)
            for number in range(3):
                variants = [pick(piece.variants, number), pick(piece.variants, number + 1)]
                self._new_order(piece, pick(piece.customers, number), variants, discount=number == 0)

    def _new_customer(self, piece: Slice, number: int) -> None:
        customer = piece.new_id()
        email = f"{piece.token()}c{number}@example.com"
        piece.customers.append(customer)
        piece.emails[customer] = email
        self.put("customer", {
            "id": customer, "email": email, "first_name": f"Pat{number}", "last_name": f"Slice{piece.number}",
            "state": "enabled", "created_at": self.start - timedelta(days=30), "updated_at": self.now(),
            "_fivetran_deleted": False,
        })

    def _new_product(self, piece: Slice, number: int) -> int:
        product, media = piece.new_id(), piece.new_id()
        piece.products.append(product)
        piece.media[product] = media
        self.put("product", {
            "id": product, "title": f"Slice {piece.number} product {number}", "handle": f"{piece.token()}p{number}",
            # The second product has no type: its category comes from its collections.
            "product_type": None if number else "Tops", "status": "active", "created_at": self.start - timedelta(days=60), "updated_at": self.now(),
            "published_at": self.start - timedelta(days=59), "_fivetran_deleted": False,
        })
        self.put("product_media", {"product_id": product, "media_id": media, "position": 1})
        self.put("media_image", {"media_id": media, "image_id": piece.new_id(), "image_alt_text": "front",
                                 "image_url": f"https://cdn.example.com/{piece.token()}{media}.jpg"})
        self.put("product_tag", {"product_id": product, "index": 0, "value": "summer"})
        piece.tags[product] = 1
        for collection in (pick(self.collections, number), piece.collections[0]):
            self.put("collection_product", {"collection_id": collection, "product_id": product,
                                            "_fivetran_deleted": False})
        return product

    def _new_variant(self, piece: Slice, product: int) -> int:
        variant = piece.new_id()
        sku = f"{piece.token()}V{variant - BASE_ID - piece.number * SPAN}"
        piece.variants.append(variant)
        piece.skus[variant] = sku
        position = piece.positions[product] = piece.positions.get(product, 0) + 1
        self.put("product_variant", {
            "id": variant, "product_id": product, "sku": sku, "title": f"Size {position}",
            "price": Decimal("10.00") + len(piece.variants), "compare_at_price": None, "inventory_quantity": 5,
            "inventory_policy": "deny", "position": position, "available_for_sale": True,
            "_fivetran_deleted": False,
        })
        return variant

    def _new_order(self, piece: Slice, customer: int, variants: list[int], *, discount: bool) -> int:
        order = piece.new_id()
        piece.orders.append(order)
        piece.lines[order] = []
        created = self.now() - timedelta(days=2) + timedelta(minutes=len(piece.orders))
        subtotal = Decimal("0.00")
        for index, variant in enumerate(variants):
            row = self.get("product_variant", variant)
            line = piece.new_id()
            piece.lines[order].append(line)
            quantity = 1 + index % 2
            subtotal += row["price"] * quantity
            self.put("order_line", {
                "id": line, "order_id": order, "index": index + 1, "product_id": row["product_id"],
                "variant_id": variant, "sku": row["sku"], "title": f"Slice {piece.number} item",
                "variant_title": row["title"], "price": row["price"], "quantity": quantity,
                "total_discount": Decimal("0.00"), "fulfillment_status": None, "gift_card": False,
                "_fivetran_deleted": False,
            })
        piece.shipping[order] = piece.new_id()
        self.put("order_shipping_line", {"id": piece.shipping[order], "order_id": order, "title": "Standard",
                                         "code": "STD", "price": Decimal("5.00"), "discounted_price": Decimal("5.00")})
        discount_total = Decimal("0.00")
        if discount:
            piece.discounts[order] = 1
            discount_total = Decimal("1.00")
            self.put("order_discount_code", {"order_id": order, "index": 1, "code": f"{piece.token()}SAVE",
                                             "amount": discount_total, "type": "fixed_amount"})
        email = self.get("customer", customer)["email"]
        self.put("order", {
            "id": order, "name": f"#{piece.token()}{len(piece.orders)}", "order_number": order, "email": email,
            "customer_id": customer, "created_at": created, "updated_at": self.now(), "processed_at": created,
            "cancelled_at": None, "cancel_reason": None, "financial_status": "paid", "fulfillment_status": None,
            "subtotal_price": subtotal - discount_total, "total_line_items_price": subtotal,
            "total_discounts": discount_total, "total_tax": Decimal("1.50"),
            "total_price": subtotal - discount_total + Decimal("6.50"), "test": False,
            "billing_address_zip": f"{10000 + order % 89999}", "shipping_address_zip": None,
            "_fivetran_deleted": False,
        })
        return order

    # -- applying one drawn operation ---------------------------------------------------------

    def apply(self, piece: Slice, operation: tuple) -> None:
        """Apply one drawn operation to the slice's rows and log what it did."""
        name, *args = operation
        outcome = getattr(self, f"_op_{name}")(piece, *args)
        piece.log.append(f"step {self.step}: {operation!r} -> {outcome}")

    def _budget(self, entity: int, **invalid: bool) -> bool:
        """Record `entity` as invalid or not per kind; False (nothing recorded) when one would pass its cap."""
        for kind, is_invalid in invalid.items():
            if is_invalid and entity not in self.invalid[kind] and len(self.invalid[kind]) >= INVALID_CAPS[kind]:
                return False
        for kind, is_invalid in invalid.items():
            if is_invalid:
                self.invalid[kind].add(entity)
            else:
                self.invalid[kind].discard(entity)
        return True

    def _op_new_order(self, piece: Slice, customer: int, variants: list[int], discount: bool) -> str:
        chosen = [pick(piece.variants, index) for index in variants]
        order = self._new_order(piece, pick(piece.customers, customer), list(dict.fromkeys(chosen)),
                                discount=discount)
        return f"order {order}"

    def _op_order_edit(self, piece: Slice, index: int, what: str) -> str:
        order = pick(piece.orders, index)
        row = self.get("order", order)
        if what == "total":
            self.touch("order", order, total_price=row["total_price"] + 1)
        elif what == "paid":
            status = "pending" if row["financial_status"] == "paid" else "paid"
            self.touch("order", order, financial_status=status)
        elif what == "zip":
            self.touch("order", order, billing_address_zip=f"Z{self.step}{order % 1000:03d}")
        elif what == "cancel":
            self.touch("order", order, cancelled_at=self.now(), cancel_reason="customer", financial_status="voided")
        else:  # the order moves to another customer of the slice (and its e-mail with it)
            customer = pick(piece.customers, piece.customers.index(row["customer_id"]) + 1)
            self.touch("order", order, customer_id=customer, email=self.get("customer", customer)["email"])
            self._budget(order, order_email=False)
        return f"order {order} {what}"

    def _op_order_delete(self, piece: Slice, index: int) -> str:
        order = pick(piece.orders, index)
        self.touch("order", order, _fivetran_deleted=True)
        return f"order {order} deleted"

    def _line(self, piece: Slice, order_index: int, line_index: int) -> tuple[int, int]:
        order = pick(piece.orders, order_index)
        return order, pick(piece.lines[order], line_index)

    def _op_line_delete(self, piece: Slice, order_index: int, line_index: int) -> str:
        order, line = self._line(piece, order_index, line_index)
        self.touch("order_line", line, _fivetran_deleted=True)
        return f"line {line} of order {order} deleted"

    def _op_line_edit(self, piece: Slice, order_index: int, line_index: int) -> str:
        order, line = self._line(piece, order_index, line_index)
        row = self.get("order_line", line)
        self.touch("order_line", line, quantity=row["quantity"] + 1, total_discount=Decimal("0.50"))
        return f"line {line} of order {order} quantity {row['quantity'] + 1}"

    def _op_fulfill(self, piece: Slice, index: int, late: bool, touch_order: bool) -> str:
        order = pick(piece.orders, index)
        fulfillment = piece.new_id()
        self.put("fulfillment", {
            "id": fulfillment, "order_id": order, "status": "success", "created_at": self.now(),
            "updated_at": self.now(), "tracking_company": "UPS", "tracking_number": f"1Z{fulfillment}",
        }, synced=self.late() if late else None)
        if touch_order:
            self.touch("order", order, fulfillment_status="fulfilled")
        return f"fulfillment {fulfillment} of order {order}{' late' if late else ''}{' +order' if touch_order else ''}"

    def _op_refund(self, piece: Slice, index: int, late: bool, touch_order: bool) -> str:
        order = pick(piece.orders, index)
        refund = piece.new_id()
        synced = self.late() if late else None
        self.put("refund", {"id": refund, "order_id": order, "created_at": self.now(), "processed_at": self.now(),
                            "restock": True}, synced=synced)
        for line in piece.lines[order]:
            price = self.get("order_line", line)["price"]
            self.put("order_line_refund", {
                "id": piece.new_id(), "refund_id": refund, "order_line_id": line, "quantity": 1, "subtotal": price,
                "total_tax": Decimal("0.10"), "restock_type": "return",
            }, synced=synced)
        if touch_order:
            self.touch("order", order, financial_status="partially_refunded")
        return f"refund {refund} of order {order}{' late' if late else ''}{' +order' if touch_order else ''}"

    def _op_test_order(self, piece: Slice, index: int) -> str:
        order = pick(piece.orders, index)
        test = not self.get("order", order)["test"]
        self.touch("order", order, test=test)
        return f"order {order} test={test}"

    def _op_order_email(self, piece: Slice, index: int, what: str) -> str:
        order = pick(piece.orders, index)
        row = self.get("order", order)
        own = self.get("customer", row["customer_id"])["email"]
        email = {
            "other": self.get("customer", pick(piece.customers, piece.customers.index(row["customer_id"]) + 1))["email"],
            "malformed": f"{piece.token()}o{order % SPAN} at example.com",
            "none": None,
            "restore": own,
        }[what]
        if not self._budget(order, order_email=what == "malformed"):
            return "skipped (invalid rows at their cap)"
        self.touch("order", order, email=email)
        return f"order {order} email {email!r}"

    def _op_shipping(self, piece: Slice, index: int) -> str:
        order = pick(piece.orders, index)
        self.touch("order_shipping_line", piece.shipping[order], title="Express", code="EXP", price=Decimal("12.00"),
                   discounted_price=Decimal("10.00"))
        return f"order {order} shipping express"

    def _op_discount(self, piece: Slice, index: int) -> str:
        order = pick(piece.orders, index)
        position = piece.discounts[order] = piece.discounts.get(order, 0) + 1
        self.put("order_discount_code", {"order_id": order, "index": position, "code": f"{piece.token()}X{position}",
                                         "amount": Decimal("2.00"), "type": "percentage"})
        return f"order {order} discount code {position}"

    def _op_customer_email(self, piece: Slice, index: int, what: str) -> str:
        customer = pick(piece.customers, index)
        own = piece.emails[customer]
        email = {
            "collide": self.get("customer", pick(piece.customers, index + 1))["email"],
            "new": f"{piece.token()}n{self.step}-{customer % SPAN}@example.com",
            "restore": own,
            "malformed": f"{piece.token()}c{customer % SPAN}@@example",
            "none": None,
        }[what]
        if not self._budget(customer, customer_email=what == "malformed"):
            return "skipped (invalid rows at their cap)"
        self.touch("customer", customer, email=email)
        return f"customer {customer} email {email!r}"

    def _op_customer_edit(self, piece: Slice, index: int) -> str:
        customer = pick(piece.customers, index)
        row = self.get("customer", customer)
        state = "disabled" if row["state"] == "enabled" else "enabled"
        self.touch("customer", customer, first_name=f"{row['first_name']}x", state=state)
        return f"customer {customer} renamed, {state}"

    def _op_customer_delete(self, piece: Slice, index: int) -> str:
        customer = pick(piece.customers, index)
        self.touch("customer", customer, _fivetran_deleted=True)
        return f"customer {customer} deleted"

    def _op_sku(self, piece: Slice, index: int, what: str) -> str:
        variant = pick(piece.variants, index)
        sku = {
            "new": f"{piece.token()}R{self.step}-{variant % SPAN}",
            "collide": self.get("product_variant", pick(piece.variants, index + 1))["sku"],
            "empty": "",
            "restore": piece.skus[variant],
        }[what]
        if not self._budget(variant, sku_empty=what == "empty", sku_duplicate=what == "collide"):
            return "skipped (invalid rows at their cap)"
        self.touch("product_variant", variant, sku=sku)
        return f"variant {variant} sku {sku!r}"

    def _op_variant_edit(self, piece: Slice, index: int, what: str) -> str:
        variant = pick(piece.variants, index)
        row = self.get("product_variant", variant)
        if what == "price":
            self.touch("product_variant", variant, price=row["price"] + 1)
        elif what == "sale":
            on_sale = row["compare_at_price"] is None
            self.touch("product_variant", variant, compare_at_price=row["price"] + 5 if on_sale else None)
        else:
            self.touch("product_variant", variant, inventory_quantity=0 if row["inventory_quantity"] else 5)
        return f"variant {variant} {what}"

    def _op_variant_delete(self, piece: Slice, index: int) -> str:
        variant = pick(piece.variants, index)
        self.touch("product_variant", variant, _fivetran_deleted=True)
        return f"variant {variant} deleted"

    def _op_new_variant(self, piece: Slice, index: int) -> str:
        return f"variant {self._new_variant(piece, pick(piece.products, index))}"

    def _op_product_edit(self, piece: Slice, index: int, what: str) -> str:
        product = pick(piece.products, index)
        row = self.get("product", product)
        changes = {
            "title": {"title": f"{row['title']} v{self.step}"},
            "type": {"product_type": None if row["product_type"] else "Tops"},
            "draft": {"status": "draft"},
            "active": {"status": "active", "published_at": row["published_at"] or self.now()},
            "unpublish": {"published_at": None},
        }[what]
        self.touch("product", product, **changes)
        return f"product {product} {what}"

    def _op_product_delete(self, piece: Slice, index: int) -> str:
        product = pick(piece.products, index)
        self.touch("product", product, _fivetran_deleted=True)
        return f"product {product} deleted"

    def _op_tag(self, piece: Slice, index: int, value: str, add: bool) -> str:
        product = pick(piece.products, index)
        if add:
            piece.tags[product] += 1
            self.put("product_tag", {"product_id": product, "index": piece.tags[product] - 1, "value": value})
            return f"product {product} tag {value} added"
        self.touch("product_tag", product, 0, value=value)
        return f"product {product} first tag now {value}"

    def _op_collection_edit(self, piece: Slice, index: int, what: str) -> str:
        collection = pick(piece.collections, index)
        row = self.get("collection", collection)
        changes = {
            "title": {"title": f"{row['title']} v{self.step}"},
            "unpublish": {"published_at": None},
            "publish": {"published_at": self.now()},
            "delete": {"_fivetran_deleted": True},
        }[what]
        self.touch("collection", collection, **changes)
        return f"collection {collection} {what}"

    def _op_media_add(self, piece: Slice, index: int) -> str:
        # A new first image (position 0): the product's main image changes.
        product, media = pick(piece.products, index), piece.new_id()
        self.put("product_media", {"product_id": product, "media_id": media, "position": 0})
        self.put("media_image", {"media_id": media, "image_id": piece.new_id(), "image_alt_text": "new",
                                 "image_url": f"https://cdn.example.com/{piece.token()}{media}-new.jpg"})
        return f"product {product} new main image {media}"

    def _op_collection(self, piece: Slice, index: int, collection_index: int, leave: bool) -> str:
        product = pick(piece.products, index)
        if leave:  # the product leaves the slice's own collection (a soft-deleted membership)
            collection = piece.collections[0]
            self.touch("collection_product", collection, product, _fivetran_deleted=True)
            return f"product {product} left collection {collection}"
        collection = pick(self.collections, collection_index)
        self.put("collection_product", {"collection_id": collection, "product_id": product, "_fivetran_deleted": False})
        return f"product {product} in collection {collection}"

    def _op_image(self, piece: Slice, index: int) -> str:
        product = pick(piece.products, index)
        media = piece.media[product]
        self.touch("media_image", media, image_url=f"https://cdn.example.com/{piece.token()}{media}-{self.step}.jpg")
        return f"product {product} image changed"

    # -- writing a step into the raw tables ---------------------------------------------------

    def take_changes(self) -> dict[str, list[dict[str, Any]]]:
        """The rows changed since the last call, by table, and start a new change set."""
        changes = {table: [self.rows[table][key] for key in sorted(keys)] for table, keys in self.changed.items()
                   if keys}
        self.changed = {table: set() for table in COLUMNS}
        return changes


def prepare_raw(connection: duckdb.DuckDBPyConnection, schema: str = "shopify") -> dict[str, str]:
    """Add the soft-delete columns the demo store lacks; return each table's template row filter."""
    for table in ADDED_DELETE_COLUMNS:
        connection.execute(f'alter table {schema}."{table}" add column if not exists _fivetran_deleted boolean')
    templates = {}
    for table in COLUMNS:
        key = key_of(table)
        where = TEMPLATE_FILTER.get(table, "true")
        order = ", ".join(f'"{column}"' for column in key)
        row = connection.execute(f'select {order} from {schema}."{table}" where {where} order by {order} limit 1').fetchone()
        assert row is not None, f"the demo store has no template row for {table}"
        templates[table] = " and ".join(f'"{column}" = {int(value)}' for column, value in zip(key, row))
    return templates


def write_changes(connection: duckdb.DuckDBPyConnection, changes: dict[str, list[dict[str, Any]]],
                  templates: dict[str, str], schema: str = "shopify") -> None:
    """Upsert the changed rows as Fivetran merges a sync: delete by key, insert (one statement each)."""
    connection.execute("begin transaction")
    for table, rows in changes.items():
        columns = COLUMNS[table]
        quoted = ", ".join(f'"{column}"' for column in columns)
        connection.execute(f'create or replace temp table changed_rows as select {quoted} from {schema}."{table}" limit 0')
        connection.executemany(
            f"insert into changed_rows values ({', '.join('?' for _ in columns)})",
            [[row[column] for column in columns] for row in rows],
        )
        match = " and ".join(f'target."{column}" = changed_rows."{column}"' for column in key_of(table))
        connection.execute(f'delete from {schema}."{table}" as target using changed_rows where {match}')
        connection.execute(
            f'insert into {schema}."{table}" by name '
            f'select template.* exclude ({quoted}), changed_rows.* '
            f'from (select * from {schema}."{table}" where {templates[table]}) as template cross join changed_rows'
        )
    connection.execute("drop table if exists changed_rows")
    connection.execute("commit")


def slices_in(text: str) -> set[int]:
    """The slices a mart row or file line belongs to, by the ids and names a slice creates."""
    found = {int(match) for match in SLICE_TOKEN.findall(text)}
    for number in re.findall(r"\d{16}", text):
        value = int(number)
        if BASE_ID <= value < BASE_ID + 10**15:
            found.add((value - BASE_ID) // SPAN)
    return found


#: The name of every operation (the first item of its tuple).
OPERATION_NAMES = {name[len("_op_"):] for name in dir(World) if name.startswith("_op_")}
