-- Shopify raw rows that belong to a product, in the columns of int_product_changes_conformed: the
-- product, its variants, media and images, tags and collection memberships, and the collections
-- (category) and the shop (link, brand) every product reads. A changed variant also gives its
-- variant_id, so that the product it was in before (a variant that moved) is found too.
with

changes as (

    select * from {{ ref('stg_shopify__changes') }}

),

product_media as (

    select * from {{ ref('stg_shopify__product_media') }}

),

collection_products as (

    select * from {{ ref('stg_shopify__collection_products') }}

),

products as (

    select * from {{ ref('stg_shopify__products') }}

),

product_rows as (

    select
        entity_id as product_id,
        cast(null as {{ dbt.type_bigint() }}) as variant_id,
        synced_at
    from changes
    where entity = 'product'

),

variant_rows as (

    select
        cast(null as {{ dbt.type_bigint() }}) as product_id,
        entity_id as variant_id,
        synced_at
    from changes
    where entity = 'variant'

),

image_rows as (

    select
        product_media.product_id,
        cast(null as {{ dbt.type_bigint() }}) as variant_id,
        changes.synced_at
    from changes
    inner join product_media
        on changes.entity_id = product_media.media_id
    where changes.entity = 'media'

),

collection_rows as (

    select
        collection_products.product_id,
        cast(null as {{ dbt.type_bigint() }}) as variant_id,
        changes.synced_at
    from changes
    inner join collection_products
        on changes.entity_id = collection_products.collection_id
    where changes.entity = 'collection'

),

shop_rows as (

    select
        products.product_id,
        cast(null as {{ dbt.type_bigint() }}) as variant_id,
        changes.synced_at
    from changes
    cross join products
    where changes.entity = 'shop'

),

final as (

    select * from product_rows
    union all
    select * from variant_rows
    union all
    select * from image_rows
    union all
    select * from collection_rows
    union all
    select * from shop_rows

)

select * from final
