-- Candidate rows of the Products feed: one per variant of a live product, in the feed's columns.
-- Live = active and published, or archived (sent with Discontinued = true). Drafts are never
-- sent; deleted products only when var deleted_products_as_discontinued is true (Discontinued).
-- Pricing from compare_at_price: a variant is on sale when compare_at_price > price; then
-- Price = MSRP = compare_at_price and SalePrice = price, otherwise Price = SalePrice = price.
with

products as (

    select * from {{ ref('stg_shopify__products') }}

),

variants as (

    select * from {{ ref('stg_shopify__product_variants') }}

),

shops as (

    select * from {{ ref('stg_shopify__shops') }}

),

images as (

    select * from {{ ref('int_product_images_ranked') }}

),

categories as (

    select * from {{ ref('int_products_categorised') }}

),

tags as (

    select * from {{ ref('int_product_tags_pivoted') }}

),

live_products as (

    select
        *,
        status = 'archived' or is_deleted as is_discontinued
    from products
    where
        (status = 'archived' or (status = 'active' and published_at is not null))
        {%- if not var('deleted_products_as_discontinued', false) %}
            and not is_deleted
        {%- endif %}

),

descriptions as (

    -- body_html and the title as plain text, in two steps (see macros/html_to_text.sql):
    -- merchants paste markup into titles too, and Listrak shows the Title as it is.
    select
        product_id,
        {{ decode_html_entities('without_tags') }} as description_text,
        {{ decode_html_entities('title_without_tags') }} as title_text
    from (
        select
            product_id,
            {{ strip_html_tags('body_html') }} as without_tags,
            {{ strip_html_tags('title') }} as title_without_tags
        from live_products
    ) as stripped

),

variant_titles as (

    -- The variant title (e.g. "Medium / Red") as plain text, like the product title.
    select
        variant_id,
        {{ decode_html_entities('without_tags') }} as variant_title_text
    from (
        select
            variant_id,
            {{ strip_html_tags('title') }} as without_tags
        from variants
    ) as stripped

),

shop as (

    select
        shop_name,
        coalesce(shop_domain, myshopify_domain) as storefront_domain
    from shops

),

final as (

    select
        coalesce(variants.sku, {{ fallback_sku('variants.variant_id') }}) as "Sku",
        case
            when
                variant_titles.variant_title_text is null
                or variant_titles.variant_title_text = 'Default Title'
                then descriptions.title_text
            else descriptions.title_text || ' - ' || variant_titles.variant_title_text
        end as "Title",
        images.image_url as "ImageUrl",
        'https://' || shop.storefront_domain || '/products/' || live_products.handle as "LinkUrl",
        -- Cut to the feed maximum by the mart (Description's over-length policy is truncate).
        coalesce({{ clean_text('descriptions.description_text') }}, descriptions.title_text) as "Description",
        case
            when variants.compare_at_price > variants.price then variants.compare_at_price
            else variants.price
        end as "Price",
        coalesce(live_products.vendor, shop.shop_name) as "Brand",
        categories.category as "Category",
        categories.sub_category as "SubCategory",
        variants.price as "SalePrice",
        cast(null as date) as "SaleStartDate",
        cast(null as date) as "SaleEndDate",
        coalesce(variants.compare_at_price > variants.price, false) as "OnSale",
        coalesce(tags.is_clearance, false) as "IsClearance",
        coalesce(tags.is_outlet, false) as "IsOutlet",
        -- Negative stock (overselling with the continue policy) is reported as 0 on hand.
        case when variants.inventory_quantity > 0 then variants.inventory_quantity else 0 end as "QOH",
        not live_products.is_discontinued
        and (
            coalesce(variants.inventory_quantity, 0) > 0
            or coalesce(variants.inventory_policy, 'deny') = 'continue'
        ) as "InStock",
        cast(live_products.product_id as {{ dbt.type_string() }}) as "MasterSku",
        -- Review apps for Shopify (Yotpo, Judge.me, Okendo) key reviews by the product id.
        cast(live_products.product_id as {{ dbt.type_string() }}) as "ReviewProductID",
        cast(null as {{ dbt.type_string() }}) as "ReviewUrl",
        live_products.is_discontinued as "Discontinued",
        cast(null as {{ dbt.type_string() }}) as "Size",
        cast(null as {{ dbt.type_string() }}) as "Color",
        cast(null as {{ dbt.type_string() }}) as "Style",
        tags.gender as "Gender",
        case
            when variants.compare_at_price > variants.price then variants.compare_at_price
        end as "MSRP",
        cast(null as {{ dbt.type_string() }}) as "Meta1",
        cast(null as {{ dbt.type_string() }}) as "Meta2",
        cast(null as {{ dbt.type_string() }}) as "Meta3",
        cast(null as {{ dbt.type_string() }}) as "Meta4",
        cast(null as {{ dbt.type_string() }}) as "Meta5",
        cast(variants.variant_id as {{ dbt.type_string() }}) as source_id
    from variants
    inner join live_products
        on variants.product_id = live_products.product_id
    inner join descriptions
        on live_products.product_id = descriptions.product_id
    inner join variant_titles
        on variants.variant_id = variant_titles.variant_id
    cross join shop
    left join images
        on
            live_products.product_id = images.product_id
            and images.image_rank = 1
    left join categories
        on live_products.product_id = categories.product_id
    left join tags
        on live_products.product_id = tags.product_id

)

select * from final
