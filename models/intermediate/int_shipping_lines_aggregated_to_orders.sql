-- Shipping method and shipping total per order. The method is that of the order's first shipping
-- line; the total is what the customer paid for shipping, after shipping discounts.
{{ config(**feeds_incremental('order_id')) }}
{% if is_incremental() %}
    {% set changed_orders = feeds_changed_keys(ref('int_order_changes_conformed'), 'order_id') %}
{% endif %}

with

changes as (

    {{ feeds_changes(ref('int_order_changes_conformed')) }}

),

shipping_lines as (

    {{ feeds_rows_in(ref('int_order_shipping_lines_conformed'), 'order_id', changed_orders) }}

),

ranked as (

    select
        order_id,
        shipping_method,
        row_number() over (partition by order_id order by shipping_line_id) as line_rank
    from shipping_lines

),

totals as (

    select
        order_id,
        sum(shipping_amount) as shipping_total
    from shipping_lines
    group by order_id

),

final as (

    select
        totals.order_id,
        ranked.shipping_method,
        totals.shipping_total
    from totals
    left join ranked
        on
            totals.order_id = ranked.order_id
            and ranked.line_rank = 1

)

{{ feeds_incremental_select('final', 'order_id', 'changes') }}
