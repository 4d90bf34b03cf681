-- Fulfillments (split, cancelled then shipped, with and without tracking), refunds and refunded
-- lines, drawn from each order's fate in _order_base.

create temp table _fulfillment as
with expanded as (
    select
        o.i,
        o.id as order_id,
        o.ship_kind,
        o.created_at,
        o.age_s,
        unnest(range(case when o.ship_kind in ('split', 'cancelled_then_shipped') then 2 else 1 end))
            as k
    from _order_base as o
    where o.ship_kind <> 'unfulfilled'
),

timed as (
    select
        *,
        clamp_ts(created_at + to_seconds(
            floor((0.5 + u2('fdelay', i, k) * 2 + k * 1.5) * 86400)::bigint
        )) as shipped_at,
        pick(['UPS', 'USPS', 'FedEx', 'DHL Express'], u2('fco', i, k)) as tracking_company
    from expanded
)

select
    14000000000000 + i * 2 + k as id,
    order_id,
    case when ship_kind = 'cancelled_then_shipped' and k = 0 then 'cancelled' else 'success' end
        as status,
    shipped_at as created_at,
    clamp_ts(shipped_at + to_seconds(floor(u2('fupd', i, k) * 4 * 86400)::bigint)) as updated_at,
    tracking_company,
    case
        when u2('fnotrack', i, k) < 0.03 then null
        when tracking_company = 'UPS' then '1Z' || lpad(upper(hex(h2('fups', i, k))), 16, '0')
        when tracking_company = 'USPS'
            then '9400' || lpad(
                (floor(u2('ftn', i, k) * 1e17)::bigint)::varchar, 18, '0'
            )
        else lpad((floor(u2('ftn', i, k) * 1e12)::bigint)::varchar, 12, '0')
    end as tracking_number,
    'manual' as service,
    case
        when ship_kind = 'cancelled_then_shipped' and k = 0 then null
        when age_s < 6 * 86400
            then pick(
                ['label_printed', 'in_transit', 'out_for_delivery'],
                u2('fss', i, k)
            )
        when u2('fss', i, k) < 0.1 then null
        else 'delivered'
    end as shipment_status,
    synced('f', i * 2 + k) as _fivetran_synced,
    i
from timed
order by id;

create temp table _refund as
select
    12000000000000 + o.i as id,
    o.id as order_id,
    clamp_ts(o.created_at + to_seconds(case
        when o.money_kind = 'cancelled' then floor(u('rdelay', o.i) * 6 * 3600)::bigint
        else floor((5 + u('rdelay', o.i) * 18) * 86400)::bigint
    end)) as created_at,
    o.money_kind,
    o.i
from _order_base as o
where
    o.money_kind in ('refunded', 'partially_refunded')
    or (o.money_kind = 'cancelled' and u('ocvoid', o.i) >= 0.5)
order by id;

create temp table _order_line_refund as
select
    13000000000000 + order_line.i * 4 + order_line.j as id,
    refund.id as refund_id,
    order_line.id as order_line_id,
    case when refund.money_kind = 'partially_refunded' then 1 else order_line.quantity end as quantity,
    money(
        (order_line.price - order_line.price * order_line.rate)
        * case when refund.money_kind = 'partially_refunded' then 1 else order_line.quantity end
    ) as subtotal,
    case
        when refund.money_kind = 'cancelled' then 'cancel'
        when u('rrestock', refund.i) < 0.8 then 'return'
        else 'no_restock'
    end as restock_type,
    synced('olr', order_line.i * 4 + order_line.j) as _fivetran_synced
from _refund as refund
inner join _order_line as order_line on refund.i = order_line.i
where refund.money_kind <> 'partially_refunded' or order_line.j = 0
order by id;

alter table _order_line_refund add column total_tax decimal(18, 2);
update _order_line_refund set total_tax = money(subtotal * 0.08);
