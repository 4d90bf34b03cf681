-- Product images in display order: image_rank 1 is the product's main image (lowest media
-- position, then lowest media id). Media without an image URL (videos, 3D models) are skipped.
with

product_media as (

    select * from {{ ref('stg_shopify__product_media') }}

),

media_images as (

    select * from {{ ref('stg_shopify__media_images') }}

),

final as (

    select
        product_media.product_id,
        media_images.image_url,
        row_number() over (
            partition by product_media.product_id
            order by product_media.media_position nulls last, product_media.media_id
        ) as image_rank
    from product_media
    inner join media_images
        on product_media.media_id = media_images.media_id
    where media_images.image_url is not null

)

select * from final
