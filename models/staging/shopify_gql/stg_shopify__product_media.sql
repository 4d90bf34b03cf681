-- GraphQL shape of stg_shopify__product_media (models/staging/shopify/): same columns. GraphQL
-- lands no position, so the lowest media_id becomes the main image (int_shopify__product_images_ranked).
with

source as (

    {{ shopify_source_select('shopify_gql', 'product_media', drop_deleted=true) }}

),

renamed as (

    select
        product_id,
        media_id,
        cast(null as {{ dbt.type_int() }}) as media_position
    from source

)

select * from renamed
