-- Category and SubCategory per product:
--   Category    = product_type; else the product's first collection; else var default_product_category.
--   SubCategory = the product's first collection whose title differs from Category; else Category.
-- "First collection" is by title (then id), among published, not deleted collections, ignoring
-- the automatic ones listed in var ignored_collection_handles (e.g. frontpage, all).
with

products as (

    select * from {{ ref('stg_shopify__products') }}

),

collections as (

    select * from {{ ref('stg_shopify__collections') }}

),

collection_products as (

    select * from {{ ref('stg_shopify__collection_products') }}

),

product_collections as (

    select
        collection_products.product_id,
        collections.title,
        collections.collection_id
    from collection_products
    inner join collections
        on collection_products.collection_id = collections.collection_id
    where
        not collections.is_deleted
        and collections.title is not null
        and collections.published_at is not null
        {%- if var("ignored_collection_handles", []) %}
            and coalesce(collections.handle, '') not in (
                {%- for handle in var("ignored_collection_handles", []) %}
                    '{{ handle }}'{{ "," if not loop.last }}
                {%- endfor %}
            )
        {%- endif %}

),

first_collections as (

    select
        product_id,
        title,
        row_number() over (partition by product_id order by title, collection_id) as collection_rank
    from product_collections

),

with_category as (

    select
        products.product_id,
        coalesce(
            products.product_type,
            first_collections.title,
            '{{ var("default_product_category", "Uncategorized") }}'
        ) as category
    from products
    left join first_collections
        on
            products.product_id = first_collections.product_id
            and first_collections.collection_rank = 1

),

sub_categories as (

    select
        with_category.product_id,
        product_collections.title,
        row_number() over (
            partition by with_category.product_id
            order by product_collections.title, product_collections.collection_id
        ) as sub_category_rank
    from with_category
    inner join product_collections
        on
            with_category.product_id = product_collections.product_id
            and with_category.category != product_collections.title

),

final as (

    select
        with_category.product_id,
        with_category.category,
        coalesce(sub_categories.title, with_category.category) as sub_category
    from with_category
    left join sub_categories
        on
            with_category.product_id = sub_categories.product_id
            and sub_categories.sub_category_rank = 1

)

select * from final
