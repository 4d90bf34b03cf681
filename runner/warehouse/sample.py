"""The rows of `feeds sample`: a small slice of the marts that covers their variety and is consistent
across the four Listrak files, picked by DuckDB SQL into temporary tables. The marts are only read,
and the delivery state is not opened at all.

Orders are picked first. One order per trait (each status code, with and without a coupon, guest
and registered customer, an item of a product with and without an image, on sale and not) comes
first, the smallest such order (fewest items) so that they all fit; then orders in turn from each
(status, coupon, registered) group, in a fixed pseudo-random order (by hash of the key). Orders are
taken while both the orders and their items fit in `rows`. Every file then follows the orders:
order items are all the lines of those orders (an order is never cut), customers are those of the
orders, products those of the lines; a customer or product trait the sample still lacks is added
with one row, room permitting.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from runner.errors import ExportError
from runner.feed import Feed
from runner.warehouse.connection import Connection
from runner.warehouse.messages import first_line
from runner.warehouse.sql import identifier

#: The four Listrak feeds whose files must agree with one another.
LINKED = ("orders", "order_items", "customers", "products")


@dataclass(frozen=True)
class Trait:
    """One kind of row the sample should show: whether the marts have it and the sample does."""

    name: str
    in_marts: bool
    in_sample: bool


@dataclass(frozen=True)
class Sample:
    #: Feed name -> the temporary relation holding its sample rows (same columns as its mart).
    relations: dict[str, str]
    traits: list[Trait]


def _table(feed: str) -> str:
    return f"temp.main.feeds_sample_{feed}"


def _traits_sql(orders: str, customers: str, products: str) -> str:
    """(trait) rows present in these orders, customers and products relations."""
    return f"""
        select distinct 'order status ' || cast("Status" as varchar) as trait from {orders}
        union select case when nullif(trim("CouponCode"), '') is null then 'order without a coupon'
                          else 'order with a coupon' end from {orders}
        union select case when "Registered" then 'registered customer' else 'guest customer' end from {customers}
        union select case when nullif(trim("ImageUrl"), '') is null then 'product without an image'
                          else 'product with an image' end from {products}
        union select case when "SalePrice" < "Price" then 'product on sale'
                          else 'product not on sale' end from {products}
    """


def pick(connection: Connection, feeds: dict[str, Feed], rows: int) -> Sample:
    """Fill one temporary table per feed with its sample rows; say which traits the sample covers."""
    relations: dict[str, str] = {}
    try:
        if all(name in feeds for name in LINKED):
            relations.update(_pick_linked(connection, {name: feeds[name].relation for name in LINKED}, rows))
        for name, feed in feeds.items():
            if name not in relations:
                # A feed of the project's own: no links known, so a fixed pseudo-random slice of it.
                key = ", ".join(identifier(column) for column in feed.key)
                connection.execute(
                    f"create or replace temp table feeds_sample_{name} as "
                    f"select * from {feed.relation} order by hash({key}), {key} limit {int(rows)}"
                )
                relations[name] = _table(name)
        traits: list[Trait] = []
        if all(name in feeds for name in LINKED):
            marts = {name: feeds[name].relation for name in LINKED}
            present = _traits(connection, marts["orders"], marts["customers"], marts["products"])
            sampled = _traits(connection, relations["orders"], relations["customers"], relations["products"])
            traits = [Trait(name, True, name in sampled) for name in sorted(present, key=_trait_order)]
            traits += [Trait(name, False, False) for name in _EXPECTED if name not in present]
    except duckdb.CatalogException as exc:
        raise ExportError(f"feeds sample needs the four built marts: {first_line(exc)}; run `feeds build`") from None
    except duckdb.BinderException as exc:
        raise ExportError(
            f"feeds sample reads the Listrak columns of the marts (OrderNumber, Email, Status, CouponCode, Sku, "
            f"Registered, ImageUrl, Price, SalePrice): {first_line(exc)}"
        ) from None
    return Sample(relations, traits)


#: Traits every store is expected to show; named when the marts have none of them.
_EXPECTED = (
    "order with a coupon", "order without a coupon", "registered customer", "guest customer",
    "product with an image", "product without an image", "product on sale", "product not on sale",
)


def _trait_order(name: str) -> tuple[int, int, str]:
    if name.startswith("order status "):
        code = name.removeprefix("order status ")
        return (0, int(code) if code.isdigit() else 99, name)
    return (1, 0, name)


def _traits(connection: Connection, orders: str, customers: str, products: str) -> set[str]:
    rows = connection.execute(_traits_sql(orders, customers, products)).fetchall()
    return {row[0] for row in rows if row[0] is not None}


def _pick_linked(connection: Connection, marts: dict[str, str], rows: int) -> dict[str, str]:
    limit = int(rows)
    connection.execute(f"""
        create or replace temp table feeds_sample_order_traits as
        with
        orders as (
            select
                "OrderNumber" as order_number,
                "Email" as email,
                "Status" as status,
                nullif(trim("CouponCode"), '') is not null as has_coupon
            from {marts["orders"]}
        ),
        customers as (
            select "Email" as email, bool_or(coalesce("Registered", false)) as registered
            from {marts["customers"]}
            group by "Email"
        ),
        products as (
            select
                "Sku" as sku,
                nullif(trim("ImageUrl"), '') is not null as has_image,
                coalesce("SalePrice" < "Price", false) as on_sale
            from {marts["products"]}
        ),
        lines as (
            select
                order_items."OrderNumber" as order_number,
                count(*) as item_count,
                coalesce(bool_or(products.has_image), false) as with_image,
                coalesce(bool_or(not products.has_image), false) as without_image,
                coalesce(bool_or(products.on_sale), false) as on_sale,
                coalesce(bool_or(not products.on_sale), false) as not_on_sale
            from {marts["order_items"]} as order_items
            left join products on order_items."Sku" = products.sku
            group by order_items."OrderNumber"
        )
        select
            orders.*,
            coalesce(customers.registered, false) as registered,
            coalesce(lines.item_count, 0) as item_count,
            coalesce(lines.with_image, false) as with_image,
            coalesce(lines.without_image, false) as without_image,
            coalesce(lines.on_sale, false) as on_sale,
            coalesce(lines.not_on_sale, false) as not_on_sale,
            hash(orders.order_number) as shuffle
        from orders
        left join customers on orders.email = customers.email
        left join lines on orders.order_number = lines.order_number
    """)
    connection.execute(f"""
        create or replace temp table feeds_sample_picked as
        with
        order_traits as (select * from temp.main.feeds_sample_order_traits),
        traits as (
            select order_number, 'order status ' || cast(status as varchar) as trait from order_traits
            union all
            select order_number, case when has_coupon then 'coupon' else 'no coupon' end from order_traits
            union all
            select order_number, case when registered then 'registered' else 'guest' end from order_traits
            union all select order_number, 'image' from order_traits where with_image
            union all select order_number, 'no image' from order_traits where without_image
            union all select order_number, 'sale' from order_traits where on_sale
            union all select order_number, 'no sale' from order_traits where not_on_sale
        ),
        covering as (
            -- Per trait its smallest order, so that one order of each fits in the sample first.
            select distinct
                arg_min(
                    traits.order_number,
                    struct_pack(items := order_traits.item_count, shuffle := order_traits.shuffle)
                ) as order_number
            from traits
            inner join order_traits on traits.order_number = order_traits.order_number
            group by traits.trait
        ),
        ranked as (
            select
                order_traits.order_number,
                order_traits.item_count,
                order_traits.shuffle,
                case when covering.order_number is null then 1 else 0 end as tier,
                row_number() over (
                    partition by order_traits.status, order_traits.has_coupon, order_traits.registered
                    order by order_traits.shuffle, order_traits.order_number
                ) as turn
            from order_traits
            left join covering on order_traits.order_number = covering.order_number
        ),
        running as (
            select
                order_number,
                sum(item_count) over taken as items_so_far,
                row_number() over taken as orders_so_far
            from ranked
            window taken as (order by tier, turn, shuffle, order_number rows between unbounded preceding and current row)
        )
        select order_number from running
        where items_so_far <= {limit} and orders_so_far <= {limit}
    """)
    connection.execute(f"""
        create or replace temp table feeds_sample_orders as
        select * from {marts["orders"]}
        where "OrderNumber" in (select order_number from temp.main.feeds_sample_picked)
    """)
    connection.execute(f"""
        create or replace temp table feeds_sample_order_items as
        select * from {marts["order_items"]}
        where "OrderNumber" in (select order_number from temp.main.feeds_sample_picked)
    """)
    # The customers of the orders, then one customer of a kind (guest, registered) still missing.
    connection.execute(f"""
        create or replace temp table feeds_sample_customers as
        with
        linked as (
            select * from {marts["customers"]}
            where "Email" in (select "Email" from temp.main.feeds_sample_orders)
        ),
        missing as (
            select kind from (values (true), (false)) as kinds (kind)
            where kind not in (select coalesce("Registered", false) from linked)
        ),
        added as (
            select customers.*, row_number() over (
                partition by coalesce(customers."Registered", false) order by hash(customers."Email"), customers."Email"
            ) as pick
            from {marts["customers"]} as customers
            where coalesce(customers."Registered", false) in (select kind from missing)
        ),
        extra as (
            select * exclude (pick, room) from (
                select *, row_number() over (order by "Email") as room from added where pick = 1
            )
            where room + (select count(*) from linked) <= {limit}
        )
        select * from linked
        union all
        select * from extra
    """)
    # The products of the lines, then one product of a kind (image or not, sale or not) still missing.
    connection.execute(f"""
        create or replace temp table feeds_sample_products as
        with
        products as (
            select
                *,
                case when nullif(trim("ImageUrl"), '') is null then 'no image' else 'image' end as image_kind,
                case when "SalePrice" < "Price" then 'sale' else 'no sale' end as sale_kind
            from {marts["products"]}
        ),
        linked as (
            select * from products
            where "Sku" in (select "Sku" from temp.main.feeds_sample_order_items)
        ),
        missing as (
            select kind from (values ('image'), ('no image'), ('sale'), ('no sale')) as kinds (kind)
            where kind not in (select image_kind from linked union select sale_kind from linked)
        ),
        added as (
            select distinct on (missing.kind) products.*
            from missing
            inner join products on missing.kind in (products.image_kind, products.sale_kind)
            order by missing.kind, hash(products."Sku"), products."Sku"
        ),
        extra as (
            select * exclude (room) from (
                select *, row_number() over (order by "Sku") as room from (select distinct * from added)
                where "Sku" not in (select "Sku" from linked)
            )
            where room + (select count(*) from linked) <= {limit}
        )
        select * exclude (image_kind, sale_kind) from linked
        union all
        select * exclude (image_kind, sale_kind) from extra
    """)
    return {name: _table(name) for name in LINKED}
