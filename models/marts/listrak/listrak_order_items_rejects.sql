-- Order items that do not go into the Order Items feed as they are, one row per (item, reason):
--   - the item's own defects (see listrak_rejects), with missing_sku for custom items that have
--     neither a SKU nor a variant, and invalid_quantity for a quantity below 1; over-long
--     optional text is listed as kind truncated (the item is sent with the value cut);
--   - every item of an order quarantined in listrak_orders_rejects: reason missing_email when
--     the order has no e-mail (normal for guest and POS orders), order_rejected otherwise;
--   - kind excluded: merged order lines that are no feed candidates by rule, because their
--     order is a test_order, a deleted_order, or not in the source (unknown_order).
-- Incremental by order_id (macros/incremental_marts.sql): a build recomputes the orders with a
-- changed source row, a recomputed candidate, a shared (OrderNumber, Sku) now or before, or a
-- quarantine in listrak_orders_rejects that differs from the one this table recorded.
{{ config(**feeds_incremental('order_id')) }}
{%- set order_number = adapter.quote('OrderNumber') -%}
{%- set rejection_classes -%}
    select distinct
        {{ order_number }},
        case when reject_reason = 'missing_email' then 'missing_email' else 'order_rejected' end as reject_reason
    from {{ ref('listrak_orders_rejects') }}
    where kind = 'quarantined'
{%- endset -%}
{%- set recorded_classes -%}
    select distinct {{ order_number }}, reject_reason
    from {{ this }}
    where kind = 'quarantined' and reject_reason in ('missing_email', 'order_rejected')
{%- endset -%}
{%- set rejections_changed -%}
    select order_items.order_id
    from {{ ref('int_order_items_prepared') }} as order_items
    inner join (
        select {{ order_number }} from ({{ rejection_classes }} except {{ recorded_classes }}) as added
        union all
        select {{ order_number }} from ({{ recorded_classes }} except {{ rejection_classes }}) as removed
    ) as changed_rejections
        on order_items.{{ order_number }} = changed_rejections.{{ order_number }}
{%- endset -%}
{%- set affected = feeds_affected('order_id',
    feeds_rejects_parts('order_id', ref('int_order_items_prepared'), ['OrderNumber', 'Sku'])
    + feeds_changed_part(ref('int_order_changes_conformed'), 'order_id', 'order_id')
    + ([rejections_changed] if is_incremental() else [])
) %}

with

changes as (

    {{ feeds_changes(ref('int_order_changes_conformed')) }}

),

order_items as (

    {{ feeds_rows_in(ref('int_order_items_prepared'), 'order_id', affected.list) }}

),

order_rejects as (

    select * from {{ ref('listrak_orders_rejects') }}

),

source_lines as (

    {{ feeds_rows_in(ref('int_order_lines_merged'), 'order_id', affected.list) }}

),

source_orders as (

    {{ feeds_rows_in(ref('int_orders_conformed'), 'order_id', affected.list) }}

),

own_rejects as (

    {{ listrak_rejects('listrak_order_items', 'order_items', ['OrderNumber', 'Sku'],
        missing_reasons={'Sku': 'missing_sku'}, entity='order_id',
        all_candidates=ref('int_order_items_prepared'),
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
        || ' is rejected (' || rejected_orders.reject_reason || ')' as reject_detail,
        order_items.order_id
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
        ) as reject_detail,
        source_lines.order_id
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

{{ feeds_incremental_select('final', 'order_id', affected.relation) }}
