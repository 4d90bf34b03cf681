-- Customers that do not go into the Customers feed as they are, one row per (customer, reason):
--   - kind quarantined: candidates that cannot meet the contract (see listrak_rejects);
--   - kind truncated: candidates sent with an optional text cut to its maximum;
--   - kind excluded: source customer records that are no feed candidates by rule:
--     deleted_customer, or duplicate_email (a newer record of the same e-mail is sent).
-- Incremental by customer_key (the e-mail, else 'customer-id:<id>', as int_customers_prepared):
-- a build recomputes the keys of changed customer records (now and as this table holds them), of
-- recomputed candidates, and of shared e-mails (now or before).
{{ config(**feeds_incremental('customer_key')) }}
{%- set string = dbt.type_string() -%}
{%- set customer_key = "coalesce(email, 'customer-id:' || cast(customer_id as " ~ string ~ "))" -%}
{%- set changed_records -%}
    select customer_id from {{ ref('int_customer_changes_conformed') }}
    where synced_at > {{ feeds_changed_after() if is_incremental() else 'null' }}
{%- endset -%}
{%- set affected = feeds_affected('customer_key',
    feeds_rejects_parts('customer_key', ref('int_customers_prepared'), ['Email'])
    + ([
        'select ' ~ customer_key ~ ' as customer_key from ' ~ ref('int_customers_conformed')
            ~ ' where customer_id in (' ~ changed_records ~ ')',
        'select customer_key from ' ~ this ~ ' where source_id in (select cast(customer_id as '
            ~ string ~ ') from (' ~ changed_records ~ ') as changed_records)',
    ] if is_incremental() else [])
) %}

with

changes as (

    select synced_at from ({{ feeds_changes(ref('int_customer_changes_conformed')) }}) as customer_changes
    union all
    select synced_at from ({{ feeds_changes(ref('int_order_changes_conformed')) }}) as order_changes

),

customers as (

    {{ feeds_rows_in(ref('int_customers_prepared'), 'customer_key', affected.list) }}

),

source_customers as (

    select
        *,
        {{ customer_key }} as customer_key
    from {{ ref('int_customers_conformed') }}
    {% if is_incremental() %}
        where {{ customer_key }} in {{ affected.list }}
    {% endif %}

),

rejects as (

    {{ listrak_rejects('listrak_customers', 'customers', ['Email'],
        entity='customer_key', all_candidates=ref('int_customers_prepared')) }}

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
        ) as reject_detail,
        customer_key
    from not_candidates

),

final as (

    select * from rejects
    union all
    select * from exclusions

)

{{ feeds_incremental_select('final', 'customer_key', affected.relation) }}
