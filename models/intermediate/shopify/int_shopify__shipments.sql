-- Shopify fulfillments that shipped, in the columns of int_shipments_conformed. Cancelled (and
-- failed) fulfillments did not ship and are left out.
with

fulfillments as (

    select * from {{ ref('stg_shopify__fulfillments') }}

),

final as (

    select
        fulfillment_id as shipment_id,
        order_id,
        created_at as shipped_at,
        tracking_number,
        tracking_company as carrier
    from fulfillments
    where coalesce(status, 'success') not in ('cancelled', 'error', 'failure')

)

select * from final
