-- GraphQL shape of stg_shopify__refunds (models/staging/shopify/): same columns; GraphQL lands no
-- processed_at or restock flag on the refund.
with

source as (

    {{ shopify_source_select('shopify_gql', 'refund', drop_deleted=true) }}

),

renamed as (

    select
        id as refund_id,
        order_id,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(null as {{ dbt.type_timestamp() }}) as processed_at,
        cast(null as {{ dbt.type_boolean() }}) as is_restocked
    from source

)

select * from renamed
