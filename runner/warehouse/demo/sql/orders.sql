-- Orders and their lines: source, money and shipping fate of each order (_order_base), lines
-- with duplicated SKUs, custom items and blank SKUs (_order_line), shipping lines, line totals.
-- Reads: getvariable('n_orders'), getvariable('n_customers'), the catalogue's temp tables, and
-- getvariable('order_lo') and getvariable('order_hi'): the slice of order numbers this pass
-- writes (runner/demo generates the orders in slices; every value depends on the order's number,
-- the totals and the catalogue, never on the slice, so any slicing gives the same rows).

create temp table _order_base as
with base as (
    select
        i,
        5000000000000 + i as id,
        -- orders are spread evenly over the two years before as_of, oldest first
        (
            ((getvariable('n_orders') - i) - u('ot', i))
            * (730 * 86400 / getvariable('n_orders'))
        )::bigint as age_s,
        u('osrc', i) as us,
        u('okind', i) as uk,
        u('oful', i) as uf,
        u('odisc', i) as ud,
        1 + floor(u('onl', i) * 4)::bigint as n_lines,
        floor(pow(u('ocust', i), 1.3) * getvariable('n_customers'))::bigint as cust_idx,
        floor(u('oship', i) * len(shipping_titles()))::bigint + 1 as ship_k
    from range(getvariable('order_lo'), getvariable('order_hi')) as t (i)  -- noqa: AL05
)

select
    *,
    case
        when us < 0.06 then 'pos'
        when us < 0.08 then 'shopify_draft_order'
        when us < 0.15 then 'iphone'
        when us < 0.18 then 'android'
        else 'web'
    end as source_name,
    case
        when uk < 0.04 then 'cancelled'
        when age_s < 25 * 86400 then 'normal'
        when uk < 0.07 then 'refunded'
        when uk < 0.12 then 'partially_refunded'
        else 'normal'
    end as money_kind,
    case
        when uk < 0.04 or age_s < 3 * 86400 or uf < 0.04 then 'unfulfilled'
        when uf < 0.10 and n_lines >= 2 then 'partial'
        when uf < 0.16 then 'split'
        when uf < 0.20 then 'cancelled_then_shipped'
        else 'single'
    end as ship_kind,
    n_lines >= 2 and u('odup', i) < 0.04 as dup_sku,
    case
        when ud < 0.14 then 1
        when ud < 0.17 then 2
        else 0
    end as n_codes,
    case when ud < 0.17 then pick([0.10, 0.15, 0.20], u('orate', i)) else 0 end as rate,
    ago(age_s) as created_at
from base
order by i;

create temp table _order_line as
with expanded as (
    select
        o.i,
        o.id as order_id,
        o.dup_sku,
        o.rate,
        o.ship_kind,
        o.money_kind,
        unnest(range(o.n_lines)) as j
    from _order_base as o
),

picked as (
    select
        *,
        case
            when dup_sku and j <= 1 then 'normal'
            when u2('lk', i, j) < 0.01 then 'custom'
            when u2('lk', i, j) < 0.02 then 'blank_sku'
            else 'normal'
        end as line_kind,
        -- any variant of the catalogue (a duplicated SKU repeats the first line's)
        floor(
            u2('lv', i, case when dup_sku and j = 1 then 0 else j end)
            * (select count(*) from _product_variant)
        )::bigint as v,
        case
            when u2('lq', i, j) < 0.75 then 1
            when u2('lq', i, j) < 0.93 then 2
            else 3 + floor(u2('lq2', i, j) * 3)::bigint
        end as quantity
    from expanded
),

joined as (
    select
        picked.*,
        variant.id as variant_id,
        variant.product_id,
        variant.sku as variant_sku,
        variant.title as variant_title,
        variant.price as variant_price,
        product.title as product_title,
        product.vendor
    from picked
    inner join _product_variant as variant on picked.v = variant.v
    inner join _product as product on variant.product_id = product.id
)

select
    11000000000000 + i * 4 + j as id,
    order_id,
    j as index,
    case when line_kind = 'custom' then null else product_id end as product_id,
    case when line_kind = 'custom' then null else variant_id end as variant_id,
    case
        when line_kind = 'custom' then null
        when line_kind = 'blank_sku' then ''
        else variant_sku
    end as sku,
    case
        when line_kind <> 'custom' then product_title
        when u2('lc', i, j) < 0.5 then 'Gift Card'
        else 'Custom Engraving, "Script" font'
    end as title,
    case
        when line_kind = 'custom' or variant_title = 'Default Title' then null
        else variant_title
    end as variant_title,
    case
        when line_kind <> 'custom' and variant_title <> 'Default Title'
            then product_title || ' - ' || variant_title
        when line_kind <> 'custom' then product_title
        when u2('lc', i, j) < 0.5 then 'Gift Card'
        else 'Custom Engraving, "Script" font'
    end as name,
    case when line_kind = 'custom' then 'Demo Shop' else vendor end as vendor,
    case
        when line_kind <> 'custom' then variant_price
        when u2('lc', i, j) < 0.5 then 50.00::decimal(18, 2)
        else 12.50::decimal(18, 2)
    end as price,
    quantity,
    rate,
    case
        when ship_kind = 'unfulfilled' then null
        when ship_kind = 'partial' and j > 0 then null
        else 'fulfilled'
    end as fulfillment_status,
    line_kind = 'custom' and u2('lc', i, j) < 0.5 as gift_card,
    i,
    j,
    money_kind
from joined
order by id;

alter table _order_line add column total_discount decimal(18, 2);
update _order_line set total_discount = money(price * quantity * rate);

create temp table _order_shipping_line as
select
    18000000000000 + i as id,
    id as order_id,
    shipping_titles()[ship_k] as title,
    shipping_codes()[ship_k] as code,
    shipping_prices()[ship_k]::decimal(18, 2) as price,
    case when n_codes = 2 then 0.00 else shipping_prices()[ship_k] end::decimal(18, 2)
        as discounted_price,
    synced('sl', i) as _fivetran_synced
from _order_base
where source_name <> 'pos'
order by id;

create temp table _order_totals as
select
    order_id,
    sum(price * quantity)::decimal(18, 2) as total_line_items_price,
    sum(total_discount)::decimal(18, 2) as total_discounts
from _order_line
group by order_id;
