-- Shipping facts per order from its shipments (cancelled fulfillments are no shipments): the
-- latest shipment gives the ship date; the latest one with a tracking number gives
-- TrackingNumber and the carrier.
{{ config(**feeds_incremental('order_id')) }}
{% if is_incremental() %}
    {% set changed_orders = feeds_changed_keys(ref('int_order_changes_conformed'), 'order_id') %}
{% endif %}

with

changes as (

    {{ feeds_changes(ref('int_order_changes_conformed')) }}

),

shipments as (

    {{ feeds_rows_in(ref('int_shipments_conformed'), 'order_id', changed_orders) }}

),

latest_tracked as (

    select
        order_id,
        tracking_number,
        carrier,
        row_number() over (
            partition by order_id
            order by shipped_at desc, shipment_id desc
        ) as recency
    from shipments
    where tracking_number is not null

),

per_order as (

    select
        order_id,
        count(*) as fulfillment_count,
        max(shipped_at) as last_shipped_at
    from shipments
    group by order_id

),

final as (

    select
        per_order.order_id,
        per_order.fulfillment_count,
        per_order.last_shipped_at,
        latest_tracked.tracking_number,
        latest_tracked.carrier
    from per_order
    left join latest_tracked
        on
            per_order.order_id = latest_tracked.order_id
            and latest_tracked.recency = 1

)

{{ feeds_incremental_select('final', 'order_id', 'changes') }}
