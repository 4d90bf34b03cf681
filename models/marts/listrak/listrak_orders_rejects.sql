-- Orders that do not go into the Orders feed as they are, one row per (order, reason):
--   - kind quarantined: candidates that cannot meet the contract (see listrak_rejects);
--   - kind truncated: candidates sent with an optional text cut to its maximum;
--   - kind excluded: source orders that are no feed candidates by rule (test_order,
--     deleted_order), so every source order is either in the feed or here.
-- Incremental by order_id (macros/incremental_marts.sql): a build recomputes the orders with a
-- changed source row, a recomputed candidate or a shared OrderNumber (now or before).
-- Built after int_order_items_prepared, never beside it, though it reads nothing of it: at 10M
-- orders, rebuilt whole, the two side by side ran out of the default 500MB (twice in a row, once
-- int_customers_prepared got fast enough to let them start together); each alone fits. meta
-- feeds_built_after: the dependency is order only (runner/incremental.py).
{{ config(meta={'feeds_built_after': ['int_order_items_prepared']}, **feeds_incremental('order_id')) }}
-- depends_on: {{ ref('int_order_items_prepared') }}
{%- set affected = feeds_affected('order_id',
    feeds_rejects_parts('order_id', ref('int_orders_prepared'), ['OrderNumber'])
    + feeds_changed_part(ref('int_order_changes_conformed'), 'order_id', 'order_id')
) %}

with

changes as (

    {{ feeds_changes(ref('int_order_changes_conformed')) }}

),

orders as (

    {{ feeds_rows_in(ref('int_orders_prepared'), 'order_id', affected.list) }}

),

source_orders as (

    {{ feeds_rows_in(ref('int_orders_conformed'), 'order_id', affected.list) }}

),

rejects as (

    {{ listrak_rejects('listrak_orders', 'orders', ['OrderNumber'],
        entity='order_id', all_candidates=ref('int_orders_prepared')) }}

),

exclusions as (

    select
        source_orders.order_number as {{ adapter.quote('OrderNumber') }},
        cast(source_orders.order_id as {{ dbt.type_string() }}) as source_id,
        cast('excluded' as {{ dbt.type_string() }}) as kind,
        cast(
            case when source_orders.is_test then 'test_order' else 'deleted_order' end
            as {{ dbt.type_string() }}
        ) as reject_reason,
        cast(null as {{ dbt.type_string() }}) as feed_column,
        cast(
            case
                when source_orders.is_test then 'a test order'
                else 'deleted in the source'
            end as {{ dbt.type_string() }}
        ) as reject_detail,
        source_orders.order_id
    from source_orders
    where source_orders.is_test or source_orders.is_deleted

),

final as (

    select * from rejects
    union all
    select * from exclusions

)

{{ feeds_incremental_select('final', 'order_id', affected.relation) }}
