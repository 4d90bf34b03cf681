-- GraphQL shape of stg_shopify__order_shipping_lines (models/staging/shopify/): same columns.
with

source as (

    {{ shopify_source_select('shopify_gql', 'order_shipping_line', drop_deleted=true) }}

),

renamed as (

    select
        id as order_shipping_line_id,
        order_id,
        {{ clean_text('title') }} as title,
        {{ clean_text('code') }} as code,
        cast(original_price_set_shop_amount as {{ dbt.type_numeric() }}) as price,
        cast(discounted_price_set_shop_amount as {{ dbt.type_numeric() }}) as discounted_price
    from source

)

select * from renamed
