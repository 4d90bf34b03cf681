-- One row per (order, SKU): lines of one order that share a SKU are merged, as the order items
-- feed is keyed by (OrderNumber, Sku). Lines without a SKU (custom items) are merged into one row
-- per order with a null sku, which the order items rejects record as missing_sku.
{{ config(**feeds_incremental('order_id')) }}
{% if is_incremental() %}
    {% set changed_orders = feeds_changed_keys(ref('int_order_changes_conformed'), 'order_id') %}
{% endif %}

with

changes as (

    {{ feeds_changes(ref('int_order_changes_conformed')) }}

),

order_lines as (

    {{ feeds_rows_in(ref('int_order_lines_conformed'), 'order_id', changed_orders) }}

),

merged as (

    select
        order_id,
        sku,
        {{ sorted_listagg('order_line_id', "','") }} as order_line_ids,
        count(*) as line_count,
        sum(quantity) as quantity,
        sum(unit_price * quantity) as gross_amount,
        sum(discount_amount) as discount_amount,
        sum(refunded_quantity) as refunded_quantity,
        sum(case when fulfillment_status = 'fulfilled' then 1 else 0 end) as fulfilled_line_count,
        sum(case when fulfillment_status in ('fulfilled', 'partial') then 1 else 0 end) as shipped_line_count,
        sum(case when fulfillment_status = 'restocked' then 1 else 0 end) as restocked_line_count
    from order_lines
    group by order_id, sku

),

final as (

    select
        order_id,
        sku,
        order_line_ids,
        line_count,
        quantity,
        -- A merged row's unit price is the quantity-weighted average of its lines.
        case when quantity > 0 then round(gross_amount / quantity, 2) end as unit_price,
        case when quantity > 0 then round((gross_amount - discount_amount) / quantity, 2) end as discounted_unit_price,
        gross_amount - discount_amount as line_total,
        refunded_quantity,
        case
            when restocked_line_count = line_count then 'restocked'
            when fulfilled_line_count = line_count then 'fulfilled'
            when shipped_line_count > 0 then 'partial'
        end as fulfillment_status
    from merged

)

{{ feeds_incremental_select('final', 'order_id', 'changes') }}
