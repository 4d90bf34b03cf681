with

source as (

    {{ shopify_source_select('shopify', 'refund', drop_deleted=true) }}

),

renamed as (

    select
        id as refund_id,
        order_id,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(processed_at as {{ dbt.type_timestamp() }}) as processed_at,
        restock as is_restocked
    from source

)

select * from renamed
