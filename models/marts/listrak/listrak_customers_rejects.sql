-- Customers that do not go into the Customers feed as they are, one row per (customer, reason):
--   - kind quarantined: candidates that cannot meet the contract (see listrak_rejects);
--   - kind truncated: candidates sent with an optional text cut to its maximum;
--   - kind excluded: source customer records that are no feed candidates by rule:
--     deleted_customer, or duplicate_email (a newer record of the same e-mail is sent).
with

customers as (

    select * from {{ ref('int_customers_prepared') }}

),

source_customers as (

    select * from {{ ref('int_customers_conformed') }}

),

rejects as (

    {{ listrak_rejects('listrak_customers', 'customers', ['Email']) }}

),

not_candidates as (

    select source_customers.*
    from source_customers
    left join customers
        on cast(source_customers.customer_id as {{ dbt.type_string() }}) = customers.source_id
    where customers.source_id is null

),

exclusions as (

    select
        email as {{ adapter.quote('Email') }},
        cast(customer_id as {{ dbt.type_string() }}) as source_id,
        cast('excluded' as {{ dbt.type_string() }}) as kind,
        cast(
            case when is_deleted then 'deleted_customer' else 'duplicate_email' end
            as {{ dbt.type_string() }}
        ) as reject_reason,
        cast(null as {{ dbt.type_string() }}) as feed_column,
        cast(
            case
                when is_deleted then 'deleted in the source'
                else 'a more recently updated customer record has the same e-mail'
            end as {{ dbt.type_string() }}
        ) as reject_detail
    from not_candidates

),

final as (

    select * from rejects
    union all
    select * from exclusions

)

select * from final
