with

source as (

    select
        product_id,
        media_id,
        -- Optional: older connectors lack it; stub with `cast(null as bigint) as position`
        -- and the lowest media_id becomes the main image.
        position
    from {{ source('shopify', 'product_media') }}

),

renamed as (

    select
        product_id,
        media_id,
        position as media_position
    from source

)

select * from renamed
