-- The order rows (_order): money from the lines, statuses from fulfillments and refunds, guest
-- and anonymous buyers, odd ZIP codes; then the discount codes each order used.

create temp table _order as
with shipping as (
    select
        order_id,
        price,
        discounted_price
    from _order_shipping_line
),

last_shipped as (
    select
        order_id,
        max(created_at) as shipped_at
    from _fulfillment
    where status = 'success'
    group by order_id
),

last_refund as (
    select
        order_id,
        max(created_at) as refunded_at
    from _refund
    group by order_id
),

assembled as (
    select
        o.*,
        totals.total_line_items_price,
        totals.total_discounts,
        coalesce(shipping.discounted_price, 0) as shipping_price,
        customer.id as customer_id_raw,
        customer.email as customer_email,
        last_shipped.shipped_at,
        last_refund.refunded_at,
        case
            when o.money_kind = 'cancelled'
                then clamp_ts(o.created_at + to_seconds(floor(u('ocan', o.i) * 5 * 3600)::bigint))
        end as cancelled_at,
        -- guests: half of POS sales and a few web checkouts carry no customer record
        case
            when o.source_name = 'pos' and u('oguest', o.i) < 0.5 then 'anonymous'
            when o.source_name <> 'pos' and u('oguest', o.i) < 0.015 then 'anonymous'
            when o.source_name <> 'pos' and u('oguest', o.i) < 0.04 then 'guest'
            else 'customer'
        end as buyer
    from _order_base as o
    inner join _order_totals as totals on o.id = totals.order_id
    inner join _customer as customer on customer.id = 6000000000000 + o.cust_idx
    left join shipping on o.id = shipping.order_id
    left join last_shipped on o.id = last_shipped.order_id
    left join last_refund on o.id = last_refund.order_id
),

priced as (
    select
        *,
        (total_line_items_price - total_discounts)::decimal(18, 2) as subtotal_price,
        money((total_line_items_price - total_discounts) * 0.08) as total_tax
    from assembled
)

select
    id,
    '#' || (1001 + i)::varchar as name,
    1001 + i as order_number,
    case
        when buyer = 'anonymous' then null
        when buyer = 'guest' then 'guest' || i::varchar || '@example.net'
        else customer_email
    end as email,
    case when buyer = 'customer' then customer_id_raw end as customer_id,
    created_at,
    clamp_ts(
        greatest(created_at, cancelled_at, shipped_at, refunded_at)
        + to_seconds(floor(u('oupd', i) * 3600)::bigint + 60)
    ) as updated_at,
    created_at as processed_at,
    cancelled_at,
    case when cancelled_at is not null then pick(cancel_reasons(), u('ocr', i)) end
        as cancel_reason,
    case
        when cancelled_at is not null then cancelled_at
        when ship_kind in ('single', 'split', 'cancelled_then_shipped')
            then clamp_ts(shipped_at + interval 1 day)
    end as closed_at,
    case
        when money_kind = 'cancelled' and refunded_at is null then 'voided'
        when money_kind in ('cancelled', 'refunded') then 'refunded'
        when money_kind = 'partially_refunded' then 'partially_refunded'
        when ship_kind = 'unfulfilled' and u('ofin', i) < 0.15 then 'pending'
        when ship_kind = 'unfulfilled' and u('ofin', i) < 0.30 then 'authorized'
        else 'paid'
    end as financial_status,
    case
        when money_kind = 'cancelled' then null
        when ship_kind = 'unfulfilled' then null
        when ship_kind = 'partial' then 'partial'
        else 'fulfilled'
    end as fulfillment_status,
    'USD' as currency,
    subtotal_price,
    total_line_items_price,
    total_discounts,
    total_tax,
    (subtotal_price + total_tax + shipping_price)::decimal(18, 2) as total_price,
    source_name,
    u('otest', i) < 0.01 as test,
    case
        when source_name = 'pos' then null
        when u('ozip', i) < 0.03 then pick(['K1A 0B1', 'M5V 3L9', 'SW1A 1AA'], u('ozc', i))
        when u('ozip', i) < 0.10
            then
                lpad((floor(u('ozn', i) * 99999)::bigint)::varchar, 5, '0')
                || '-' || lpad((floor(u('ozn4', i) * 9999)::bigint)::varchar, 4, '0')
        else lpad((floor(u('ozn', i) * 99999)::bigint)::varchar, 5, '0')
    end as billing_address_zip,
    case
        when source_name = 'pos' then null
        when u('ozdiff', i) < 0.1 then lpad((floor(u('ozs', i) * 99999)::bigint)::varchar, 5, '0')
        when u('ozip', i) < 0.03 then pick(['K1A 0B1', 'M5V 3L9', 'SW1A 1AA'], u('ozc', i))
        when u('ozip', i) < 0.10
            then
                lpad((floor(u('ozn', i) * 99999)::bigint)::varchar, 5, '0')
                || '-' || lpad((floor(u('ozn4', i) * 9999)::bigint)::varchar, 4, '0')
        else lpad((floor(u('ozn', i) * 99999)::bigint)::varchar, 5, '0')
    end as shipping_address_zip,
    u('odel', i) < 0.005 as _fivetran_deleted,
    synced('o', i) as _fivetran_synced
from priced
order by id;

create temp table _order_discount_code as
with expanded as (
    select
        o.i,
        o.id as order_id,
        o.n_codes,
        o.rate,
        totals.total_discounts,
        shipping.price as shipping_price,
        unnest(range(o.n_codes)) as k
    from _order_base as o
    inner join _order_totals as totals on o.id = totals.order_id
    left join _order_shipping_line as shipping on o.id = shipping.order_id
    where o.n_codes > 0
)

select
    order_id,
    k as index,
    case
        when k = 1 then 'FREESHIP'
        when rate = 0.10 then pick(['WELCOME10', 'FRIENDS10'], u('dc', i))
        when rate = 0.15 then 'SUMMER15'
        else pick(['VIP20', 'BFCM-2024'], u('dc', i))
    end as code,
    case when k = 1 then coalesce(shipping_price, 0) else total_discounts end::decimal(18, 2)
        as amount,
    case when k = 1 then 'shipping' else 'percentage' end as type,
    synced('dc', i * 2 + k) as _fivetran_synced
from expanded
order by order_id, index;
