-- Shopify variants in the columns of int_product_variants_conformed: a variant without a SKU gets
-- shopify-variant-<id>; the variant title as plain text, null for Shopify's "Default Title" (a
-- product with one variant); the "continue" inventory policy means it sells when out of stock.
with

variants as (

    select * from {{ ref('stg_shopify__product_variants') }}

),

variant_titles as (

    -- As plain text like the product title: merchants paste markup into titles too.
    select
        variant_id,
        {{ decode_html_entities('without_tags') }} as title_text
    from (
        select
            variant_id,
            {{ strip_html_tags('title') }} as without_tags
        from variants
    ) as stripped

),

final as (

    select
        variants.variant_id,
        variants.product_id,
        coalesce(variants.sku, {{ shopify_fallback_sku('variants.variant_id') }}) as sku,
        nullif(variant_titles.title_text, 'Default Title') as title,
        variants.price,
        variants.compare_at_price,
        variants.inventory_quantity,
        coalesce(variants.inventory_policy = 'continue', false) as allows_backorder
    from variants
    inner join variant_titles
        on variants.variant_id = variant_titles.variant_id

)

select * from final
