-- Shipping facts per order from its fulfillments. Cancelled (and failed) fulfillments did not
-- ship and are ignored. The latest remaining fulfillment gives the ship date; the latest one
-- with a tracking number gives TrackingNumber and the carrier.
with

fulfillments as (

    select * from {{ ref('stg_shopify__fulfillments') }}

),

shipped as (

    select *
    from fulfillments
    where coalesce(status, 'success') not in ('cancelled', 'error', 'failure')

),

latest_tracked as (

    select
        order_id,
        tracking_number,
        tracking_company,
        row_number() over (
            partition by order_id
            order by created_at desc, fulfillment_id desc
        ) as recency
    from shipped
    where tracking_number is not null

),

per_order as (

    select
        order_id,
        count(*) as fulfillment_count,
        max(created_at) as last_shipped_at
    from shipped
    group by order_id

),

final as (

    select
        per_order.order_id,
        per_order.fulfillment_count,
        per_order.last_shipped_at,
        latest_tracked.tracking_number,
        latest_tracked.tracking_company
    from per_order
    left join latest_tracked
        on
            per_order.order_id = latest_tracked.order_id
            and latest_tracked.recency = 1

)

select * from final
