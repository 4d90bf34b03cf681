with

source as (

    {{ shopify_source_select('shopify', 'product_media', drop_deleted=true) }}

),

renamed as (

    select
        product_id,
        media_id,
        position as media_position
    from source

)

select * from renamed
