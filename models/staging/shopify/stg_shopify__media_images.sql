with

source as (

    {{ shopify_source_select('shopify', 'media_image', drop_deleted=true) }}

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
