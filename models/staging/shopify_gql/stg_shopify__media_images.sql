-- GraphQL shape of stg_shopify__media_images (models/staging/shopify/): same columns.
with

source as (

    {{ shopify_source_select('shopify_gql', 'media_image', drop_deleted=true) }}

),

renamed as (

    select
        media_id,
        image_id,
        {{ clean_text('image_url') }} as image_url,
        {{ clean_text('image_alt_text') }} as image_alt_text
    from source

)

select * from renamed
