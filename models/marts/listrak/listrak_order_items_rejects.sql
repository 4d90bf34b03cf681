-- Order items that do not go into the Order Items feed as they are, one row per (item, reason):
--   - the item's own defects (see listrak_rejects), with missing_sku for custom items that have
--     neither a SKU nor a variant, and invalid_quantity for a quantity below 1; over-long
--     optional text is listed as kind truncated (the item is sent with the value cut);
--   - every item of an order quarantined in listrak_orders_rejects: reason missing_email when
--     the order has no e-mail (normal for guest and POS orders), order_rejected otherwise;
--   - kind excluded: merged order lines that are no feed candidates by rule, because their
--     order is a test_order, a deleted_order, or not in the source (unknown_order).
with

order_items as (

    select * from {{ ref('int_order_items_prepared') }}

),

order_rejects as (

    select * from {{ ref('listrak_orders_rejects') }}

),

source_lines as (

    select * from {{ ref('int_order_lines_merged') }}

),

source_orders as (

    select * from {{ ref('int_orders_conformed') }}

),

own_rejects as (

    {{ listrak_rejects('listrak_order_items', 'order_items', ['OrderNumber', 'Sku'],
        missing_reasons={'Sku': 'missing_sku'},
        extra_checks=[
            {
                'reason': 'invalid_quantity',
                'condition': adapter.quote('Quantity') ~ ' < 1',
                'detail': "'Quantity is ' || cast(" ~ adapter.quote('Quantity') ~ " as " ~ dbt.type_string() ~ ")",
            },
        ]) }}

),

rejected_orders as (

    select distinct
        {{ adapter.quote('OrderNumber') }},
        reject_reason
    from order_rejects
    where kind = 'quarantined'

),

items_of_rejected_orders as (

    select
        order_items.{{ adapter.quote('OrderNumber') }},
        order_items.{{ adapter.quote('Sku') }},
        order_items.source_id,
        cast('quarantined' as {{ dbt.type_string() }}) as kind,
        case
            when rejected_orders.reject_reason = 'missing_email' then 'missing_email'
            else 'order_rejected'
        end as reject_reason,
        cast(null as {{ dbt.type_string() }}) as feed_column,
        'order ' || order_items.{{ adapter.quote('OrderNumber') }}
        || ' is rejected (' || rejected_orders.reject_reason || ')' as reject_detail
    from order_items
    inner join rejected_orders
        on order_items.{{ adapter.quote('OrderNumber') }} = rejected_orders.{{ adapter.quote('OrderNumber') }}

),

exclusions as (

    select
        source_orders.order_number as {{ adapter.quote('OrderNumber') }},
        source_lines.sku as {{ adapter.quote('Sku') }},
        source_lines.order_line_ids as source_id,
        cast('excluded' as {{ dbt.type_string() }}) as kind,
        cast(
            case
                when source_orders.order_id is null then 'unknown_order'
                when source_orders.is_test then 'test_order'
                else 'deleted_order'
            end as {{ dbt.type_string() }}
        ) as reject_reason,
        cast(null as {{ dbt.type_string() }}) as feed_column,
        cast(
            case
                when source_orders.order_id is null then 'the line''s order is not in the source'
                when source_orders.is_test then 'an item of a test order'
                else 'an item of an order deleted in the source'
            end as {{ dbt.type_string() }}
        ) as reject_detail
    from source_lines
    left join order_items
        on source_lines.order_line_ids = order_items.source_id
    left join source_orders
        on source_lines.order_id = source_orders.order_id
    where order_items.source_id is null

),

final as (

    select * from own_rejects
    union all
    select * from items_of_rejected_orders
    union all
    select * from exclusions

)

select * from final
