with

source as (

    select
        media_id,
        image_id,
        image_url,
        image_alt_text
    from {{ source('shopify', 'media_image') }}

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
