-- Candidate rows of the Products feed: one per variant of a live product, in the feed's columns.
-- Live = active and published, or archived (sent with Discontinued = true). Drafts are never
-- sent; deleted products only when var deleted_products_as_discontinued is true (Discontinued).
-- Pricing from compare_at_price: a variant is on sale when compare_at_price > price; then
-- Price = MSRP = compare_at_price and SalePrice = price, otherwise Price = SalePrice = price.
-- Incremental by product_id: a build recomputes the changed products and the product a changed
-- variant was in before (a variant that moved).
{{ config(**feeds_incremental('product_id')) }}
{% if is_incremental() %}
    {#- The affected products are read first and written into the SQL as a list
        (feeds_listed_keys), so that only their descriptions are converted to text. -#}
    {% set changed_variants = feeds_changed_keys(
        ref('int_product_changes_conformed'), 'cast(variant_id as ' ~ dbt.type_string() ~ ')'
    ) %}
    {% set affected_products_query %}
        select changes.product_id
        from ({{ feeds_changes(ref('int_product_changes_conformed')) }}) as changes
        union all
        select previous.product_id
        from {{ this }} as previous
        where previous.source_id in {{ changed_variants }}
    {% endset %}
    {% set affected_products = feeds_listed_keys(affected_products_query, 'product_id') %}
{% endif %}

with

changes as (

    {{ feeds_changes(ref('int_product_changes_conformed')) }}

),

{% if is_incremental() %}
    -- The affected products the table holds: their tombstones delete the rows of a product that
    -- has none any more (a product with no row here has nothing to delete).
    affected as (

        select previous.product_id
        from {{ this }} as previous
        where previous.product_id in {{ affected_products }}

    ),
{% endif %}

products as (

    {{ feeds_rows_in(ref('int_products_conformed'), 'product_id', affected_products) }}

),

variants as (

    {{ feeds_rows_in(ref('int_product_variants_conformed'), 'product_id', affected_products) }}

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

    -- The description HTML and the title as plain text, in two steps (see macros/html_to_text.sql):
    -- merchants paste markup into titles too, and Listrak shows the Title as it is.
    select
        product_id,
        {{ decode_html_entities('without_tags') }} as description_text,
        {{ decode_html_entities('title_without_tags') }} as title_text
    from (
        select
            product_id,
            {{ strip_html_tags('description_html') }} as without_tags,
            {{ strip_html_tags('title') }} as title_without_tags
        from live_products
    ) as stripped

),

final as (

    select
        variants.sku as {{ adapter.quote('Sku') }},
        case
            when variants.title is null then descriptions.title_text
            else descriptions.title_text || ' - ' || variants.title
        end as {{ adapter.quote('Title') }},
        live_products.image_url as {{ adapter.quote('ImageUrl') }},
        live_products.product_url as {{ adapter.quote('LinkUrl') }},
        -- Cut to the feed maximum by the mart (Description's over-length policy is truncate).
        coalesce(
            {{ clean_text('descriptions.description_text') }}, descriptions.title_text
        ) as {{ adapter.quote('Description') }},
        case
            when variants.compare_at_price > variants.price then variants.compare_at_price
            else variants.price
        end as {{ adapter.quote('Price') }},
        live_products.brand as {{ adapter.quote('Brand') }},
        live_products.category as {{ adapter.quote('Category') }},
        live_products.sub_category as {{ adapter.quote('SubCategory') }},
        variants.price as {{ adapter.quote('SalePrice') }},
        cast(null as date) as {{ adapter.quote('SaleStartDate') }},
        cast(null as date) as {{ adapter.quote('SaleEndDate') }},
        coalesce(variants.compare_at_price > variants.price, false) as {{ adapter.quote('OnSale') }},
        live_products.is_clearance as {{ adapter.quote('IsClearance') }},
        live_products.is_outlet as {{ adapter.quote('IsOutlet') }},
        -- Negative stock (overselling while backorders are allowed) is reported as 0 on hand.
        case
            when variants.inventory_quantity > 0 then variants.inventory_quantity else 0
        end as {{ adapter.quote('QOH') }},
        not live_products.is_discontinued
        and (
            coalesce(variants.inventory_quantity, 0) > 0
            or variants.allows_backorder
        ) as {{ adapter.quote('InStock') }},
        cast(live_products.product_id as {{ dbt.type_string() }}) as {{ adapter.quote('MasterSku') }},
        -- Review apps (for Shopify: Yotpo, Judge.me, Okendo) key reviews by the product id.
        cast(live_products.product_id as {{ dbt.type_string() }}) as {{ adapter.quote('ReviewProductID') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('ReviewUrl') }},
        live_products.is_discontinued as {{ adapter.quote('Discontinued') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Size') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Color') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Style') }},
        live_products.gender as {{ adapter.quote('Gender') }},
        case
            when variants.compare_at_price > variants.price then variants.compare_at_price
        end as {{ adapter.quote('MSRP') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta1') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta2') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta3') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta4') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta5') }},
        cast(variants.variant_id as {{ dbt.type_string() }}) as source_id,
        live_products.product_id
    from variants
    inner join live_products
        on variants.product_id = live_products.product_id
    inner join descriptions
        on live_products.product_id = descriptions.product_id

)

{{ feeds_incremental_select('final', 'product_id', 'affected') }}
