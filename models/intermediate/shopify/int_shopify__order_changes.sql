-- Shopify raw rows that belong to an order, in the columns of int_order_changes_conformed: one row
-- per changed row of the order, its lines, shipping lines, discount codes, fulfillments (and their
-- tracking), refunds and refund lines, with the order it belongs to and when it was synced. A line
-- without its own SKU takes its variant's current SKU, so a changed variant changes those orders.
with

changes as (

    select * from {{ ref('stg_shopify__changes') }}

),

refunds as (

    select * from {{ ref('stg_shopify__refunds') }}

),

fulfillments as (

    select * from {{ ref('stg_shopify__fulfillments') }}

),

order_lines as (

    select * from {{ ref('stg_shopify__order_lines') }}

),

order_rows as (

    select
        entity_id as order_id,
        synced_at
    from changes
    where entity = 'order'

),

refund_line_rows as (

    select
        refunds.order_id,
        changes.synced_at
    from changes
    inner join refunds
        on changes.entity_id = refunds.refund_id
    where changes.entity = 'refund'

),

tracking_rows as (

    select
        fulfillments.order_id,
        changes.synced_at
    from changes
    inner join fulfillments
        on changes.entity_id = fulfillments.fulfillment_id
    where changes.entity = 'fulfillment'

),

variant_rows as (

    select
        order_lines.order_id,
        changes.synced_at
    from changes
    inner join order_lines
        on changes.entity_id = order_lines.variant_id
    where
        changes.entity = 'variant'
        and order_lines.sku is null

),

final as (

    select * from order_rows
    union all
    select * from refund_line_rows
    union all
    select * from tracking_rows
    union all
    select * from variant_rows

)

select * from final
