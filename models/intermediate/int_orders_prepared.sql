-- Candidate rows of the Orders feed, one per order, already in the feed's columns (quoted
-- PascalCase names). Test orders and deleted orders are left out here and appear nowhere.
-- Rows that cannot meet the contract are quarantined by listrak_orders_rejects; the rest
-- become listrak_orders.
{{ config(**feeds_incremental('order_id')) }}
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

discount_codes as (

    {{ feeds_rows_in(ref('int_discount_codes_aggregated_to_orders'), 'order_id', changed_orders) }}

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

quantities as (

    select
        order_id,
        sum(quantity) as ordered_quantity,
        sum(refunded_quantity) as refunded_quantity
    from order_lines
    group by order_id

),

final as (

    select
        real_orders.email as {{ adapter.quote('Email') }},
        real_orders.order_number as {{ adapter.quote('OrderNumber') }},
        {{ to_feed_timezone('real_orders.placed_at') }} as {{ adapter.quote('DateEntered') }},
        real_orders.order_total as {{ adapter.quote('OrderTotal') }},
        real_orders.item_subtotal as {{ adapter.quote('ItemTotal') }},
        real_orders.tax_total as {{ adapter.quote('TaxTotal') }},
        shipping.shipping_total as {{ adapter.quote('ShippingTotal') }},
        cast(null as {{ dbt.type_numeric() }}) as {{ adapter.quote('HandlingTotal') }},
        status_codes.code as {{ adapter.quote('Status') }},
        -- Only a completely fulfilled order has shipped as a whole.
        case
            when real_orders.fulfillment_status = 'fulfilled'
                then {{ to_feed_timezone('fulfillments.last_shipped_at') }}
        end as {{ adapter.quote('ShipDate') }},
        fulfillments.tracking_number as {{ adapter.quote('TrackingNumber') }},
        coalesce(shipping.shipping_method, fulfillments.carrier) as {{ adapter.quote('ShippingMethod') }},
        discount_codes.coupon_code as {{ adapter.quote('CouponCode') }},
        real_orders.discount_total as {{ adapter.quote('DiscountTotal') }},
        real_orders.sales_channel as {{ adapter.quote('Source') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta1') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta2') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta3') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta4') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta5') }},
        cast(real_orders.order_id as {{ dbt.type_string() }}) as source_id,
        real_orders.order_id
    from real_orders
    left join quantities
        on real_orders.order_id = quantities.order_id
    left join status_codes
        on {{ order_status(
            'real_orders.is_cancelled',
            'real_orders.payment_status',
            'real_orders.fulfillment_status',
            'quantities.refunded_quantity',
            'quantities.ordered_quantity',
        ) }} = status_codes.order_status
    left join fulfillments
        on real_orders.order_id = fulfillments.order_id
    left join shipping
        on real_orders.order_id = shipping.order_id
    left join discount_codes
        on real_orders.order_id = discount_codes.order_id

)

{{ feeds_incremental_select('final', 'order_id', 'changes') }}
