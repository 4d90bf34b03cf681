-- Shopify products in the columns of int_products_conformed, with what Shopify keeps elsewhere:
-- the storefront link (https://<shop domain>/products/<handle>), the brand (vendor, else the shop
-- name), the main image, the category (int_shopify__products_categorised) and the flags from
-- tags (int_shopify__product_tags_pivoted). Status stays Shopify's product status (active,
-- archived, draft), which is also the conformed vocabulary.
with

products as (

    select * from {{ ref('stg_shopify__products') }}

),

shops as (

    select * from {{ ref('stg_shopify__shops') }}

),

images as (

    select * from {{ ref('int_shopify__product_images_ranked') }}

),

categories as (

    select * from {{ ref('int_shopify__products_categorised') }}

),

tags as (

    select * from {{ ref('int_shopify__product_tags_pivoted') }}

),

shop as (

    select
        shop_name,
        coalesce(shop_domain, myshopify_domain) as storefront_domain
    from shops

),

final as (

    select
        products.product_id,
        products.title,
        products.body_html as description_html,
        'https://' || shop.storefront_domain || '/products/' || products.handle as product_url,
        coalesce(products.vendor, shop.shop_name) as brand,
        categories.category,
        categories.sub_category,
        images.image_url,
        coalesce(tags.is_clearance, false) as is_clearance,
        coalesce(tags.is_outlet, false) as is_outlet,
        tags.gender,
        products.status,
        products.published_at,
        products.is_deleted
    from products
    cross join shop
    left join images
        on
            products.product_id = images.product_id
            and images.image_rank = 1
    left join categories
        on products.product_id = categories.product_id
    left join tags
        on products.product_id = tags.product_id

)

select * from final
