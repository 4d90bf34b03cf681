-- Candidate rows of the Order Items feed, one per (order, SKU), in the feed's columns. Items of
-- test and deleted orders are left out. A row's ShipDate and TrackingNumber are its order's
-- latest shipment when the row is fulfilled (sources such as Shopify do not say which shipment
-- carried which line); ShippingMethod is the order's.
-- Built after int_orders_prepared, never beside it, though it reads nothing of it: rebuilt whole,
-- each holds its order-level joins in DuckDB's one shared memory_limit, and at 10M orders the two
-- side by side exceed the default 500MB where each alone fits. meta feeds_built_after says the
-- dependency is order only, so a change of int_orders_prepared does not rebuild this one
-- (runner/incremental.py).
{{ config(meta={'feeds_built_after': ['int_orders_prepared']}, **feeds_incremental('order_id')) }}
-- depends_on: {{ ref('int_orders_prepared') }}
{% if is_incremental() %}
    {% set changed_orders = feeds_changed_keys(ref('int_order_changes_conformed'), 'order_id') %}
{% endif %}

with

changes as (

    {{ feeds_changes(ref('int_order_changes_conformed')) }}

),

orders as (

    select * from {{ ref('int_orders_conformed') }}

),

status_codes as (

    select * from {{ ref('listrak_status_codes') }}

),

order_lines as (

    {{ feeds_rows_in(ref('int_order_lines_merged'), 'order_id', changed_orders) }}

),

fulfillments as (

    {{ feeds_rows_in(ref('int_fulfillments_aggregated_to_orders'), 'order_id', changed_orders) }}

),

shipping as (

    {{ feeds_rows_in(ref('int_shipping_lines_aggregated_to_orders'), 'order_id', changed_orders) }}

),

real_orders as (

    select *
    from orders
    where
        not is_test
        and not is_deleted
        {% if is_incremental() %}
            and order_id in {{ changed_orders }}
        {% endif %}

),

final as (

    select
        real_orders.order_number as {{ adapter.quote('OrderNumber') }},
        order_lines.sku as {{ adapter.quote('Sku') }},
        order_lines.quantity as {{ adapter.quote('Quantity') }},
        order_lines.unit_price as {{ adapter.quote('Price') }},
        status_codes.code as {{ adapter.quote('Status') }},
        case
            when order_lines.fulfillment_status = 'fulfilled'
                then {{ to_feed_timezone('fulfillments.last_shipped_at') }}
        end as {{ adapter.quote('ShipDate') }},
        case
            when order_lines.fulfillment_status in ('fulfilled', 'partial')
                then fulfillments.tracking_number
        end as {{ adapter.quote('TrackingNumber') }},
        coalesce(shipping.shipping_method, fulfillments.carrier) as {{ adapter.quote('ShippingMethod') }},
        order_lines.discounted_unit_price as {{ adapter.quote('DiscountedPrice') }},
        order_lines.line_total as {{ adapter.quote('ItemTotal') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta1') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta2') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta3') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta4') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta5') }},
        order_lines.order_line_ids as source_id,
        real_orders.order_id
    from order_lines
    inner join real_orders
        on order_lines.order_id = real_orders.order_id
    left join fulfillments
        on order_lines.order_id = fulfillments.order_id
    left join shipping
        on order_lines.order_id = shipping.order_id
    left join status_codes
        on {{ order_status(
            'real_orders.is_cancelled',
            'real_orders.payment_status',
            'order_lines.fulfillment_status',
            'order_lines.refunded_quantity',
            'order_lines.quantity',
        ) }} = status_codes.order_status

)

{{ feeds_incremental_select('final', 'order_id', 'changes') }}
