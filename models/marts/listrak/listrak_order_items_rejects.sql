-- Order items that cannot go into the Order Items feed, one row per (item, reason):
--   - the item's own defects (see listrak_rejects), with missing_sku for custom items that have
--     neither a SKU nor a variant, and invalid_quantity for a quantity below 1;
--   - every item of an order quarantined in listrak_orders_rejects: reason missing_email when
--     the order has no e-mail (normal for guest and POS orders), order_rejected otherwise.
with

order_items as (

    select * from {{ ref('int_order_items_prepared') }}

),

order_rejects as (

    select * from {{ ref('listrak_orders_rejects') }}

),

own_rejects as (

    {{ listrak_rejects('listrak_order_items', 'order_items', ['OrderNumber', 'Sku'],
        missing_reasons={'Sku': 'missing_sku'},
        extra_checks=[
            {
                'reason': 'invalid_quantity',
                'condition': '"Quantity" < 1',
                'detail': "'Quantity is ' || cast(\"Quantity\" as " ~ dbt.type_string() ~ ")",
            },
        ]) }}

),

rejected_orders as (

    select distinct
        "OrderNumber",
        reject_reason
    from order_rejects

),

items_of_rejected_orders as (

    select
        order_items."OrderNumber",
        order_items."Sku",
        order_items.source_id,
        case
            when rejected_orders.reject_reason = 'missing_email' then 'missing_email'
            else 'order_rejected'
        end as reject_reason,
        'order ' || order_items."OrderNumber"
        || ' is rejected (' || rejected_orders.reject_reason || ')' as reject_detail
    from order_items
    inner join rejected_orders
        on order_items."OrderNumber" = rejected_orders."OrderNumber"

),

final as (

    select * from own_rejects
    union all
    select * from items_of_rejected_orders

)

select * from final
