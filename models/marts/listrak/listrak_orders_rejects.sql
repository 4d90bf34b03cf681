-- Orders that do not go into the Orders feed as they are, one row per (order, reason):
--   - kind quarantined: candidates that cannot meet the contract (see listrak_rejects);
--   - kind truncated: candidates sent with an optional text cut to its maximum;
--   - kind excluded: source orders that are no feed candidates by rule (test_order,
--     deleted_order), so every source order is either in the feed or here.
with

orders as (

    select * from {{ ref('int_orders_prepared') }}

),

source_orders as (

    select * from {{ ref('int_orders_conformed') }}

),

rejects as (

    {{ listrak_rejects('listrak_orders', 'orders', ['OrderNumber']) }}

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
        ) as reject_detail
    from source_orders
    where source_orders.is_test or source_orders.is_deleted

),

final as (

    select * from rejects
    union all
    select * from exclusions

)

select * from final
