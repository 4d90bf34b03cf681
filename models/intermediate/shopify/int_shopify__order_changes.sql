-- Shopify raw rows that belong to an order, in the columns of int_order_changes_conformed: one row
-- per changed row of the order, its lines, shipping lines, discount codes, fulfillments (and their
-- tracking), refunds and refund lines, with the order it belongs to and when it was synced. A line
-- without its own SKU takes its variant's current SKU, so a changed variant changes those orders.
-- The changed rows are the right side of each join: DuckDB (disabled_optimizers
-- build_side_probe_side in profiles.yml) builds its hash table there, on the few changed rows
-- rather than on every refund, fulfillment or line.
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
    from refunds
    inner join changes
        on refunds.refund_id = changes.entity_id
    where changes.entity = 'refund'

),

tracking_rows as (

    select
        fulfillments.order_id,
        changes.synced_at
    from fulfillments
    inner join changes
        on fulfillments.fulfillment_id = changes.entity_id
    where changes.entity = 'fulfillment'

),

variant_rows as (

    select
        order_lines.order_id,
        changes.synced_at
    from order_lines
    inner join changes
        on order_lines.variant_id = changes.entity_id
    where
        changes.entity = 'variant'
        -- "order_lines.sku is null", written over both sides so that it is tested on the joined
        -- lines only: a test of one side alone is pushed into the scan of every order line, where
        -- DuckDB cleans each line's SKU (a regular expression) before the join.
        and case when changes.entity = 'variant' then order_lines.sku end is null

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
