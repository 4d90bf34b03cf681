with

source as (

    {{ shopify_source_select('shopify', 'order_line_refund', drop_deleted=true) }}

),

renamed as (

    select
        id as order_line_refund_id,
        refund_id,
        order_line_id,
        cast(coalesce(quantity, 0) as {{ dbt.type_int() }}) as quantity,
        cast(subtotal as {{ dbt.type_numeric() }}) as subtotal,
        cast(total_tax as {{ dbt.type_numeric() }}) as total_tax,
        lower({{ clean_text('restock_type') }}) as restock_type
    from source

)

select * from renamed
