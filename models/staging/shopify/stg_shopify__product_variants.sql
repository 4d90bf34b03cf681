with

source as (

    {{ shopify_source_select('shopify', 'product_variant', drop_deleted=true) }}

),

renamed as (

    select
        id as variant_id,
        product_id,
        {{ clean_text('sku') }} as sku,
        {{ clean_text('title') }} as title,
        cast(price as {{ dbt.type_numeric() }}) as price,
        cast(compare_at_price as {{ dbt.type_numeric() }}) as compare_at_price,
        cast(inventory_quantity as {{ dbt.type_int() }}) as inventory_quantity,
        lower({{ clean_text('inventory_policy') }}) as inventory_policy,
        position as variant_position,
        {{ clean_text('barcode') }} as barcode,
        available_for_sale as is_available_for_sale,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at
    from source

)

select * from renamed
