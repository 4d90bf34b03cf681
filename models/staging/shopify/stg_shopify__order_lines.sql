with

source as (

    {{ shopify_source_select('shopify', 'order_line', drop_deleted=true) }}

),

renamed as (

    select
        id as order_line_id,
        order_id,
        index as line_index,
        product_id,
        variant_id,
        {{ clean_text('sku') }} as sku,
        {{ clean_text('title') }} as title,
        {{ clean_text('variant_title') }} as variant_title,
        {{ clean_text('name') }} as line_name,
        {{ clean_text('vendor') }} as vendor,
        cast(price as {{ dbt.type_numeric() }}) as price,
        cast(quantity as {{ dbt.type_int() }}) as quantity,
        cast(coalesce(total_discount, 0) as {{ dbt.type_numeric() }}) as total_discount,
        lower({{ clean_text('fulfillment_status') }}) as fulfillment_status,
        coalesce(gift_card, false) as is_gift_card
    from source

)

select * from renamed
