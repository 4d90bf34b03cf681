-- Variants that do not go into the Products feed as they are, one row per (variant, reason):
--   - kind quarantined: candidates that cannot meet the contract (see listrak_rejects); two
--     variants with the same SKU are both rejected (duplicate_key): Listrak would keep only one;
--   - kind truncated: candidates sent with a text cut to its maximum (e.g. Description);
--   - kind excluded: source variants that are no feed candidates by rule: draft, unpublished
--     (active but not published to the online store), deleted_product (unless var
--     deleted_products_as_discontinued), unknown_product (no product row), other_status.
-- Incremental by product_id (macros/incremental_marts.sql): a build recomputes the products with a
-- changed source row, the product a changed variant was in (as this table holds it), recomputed
-- candidates, and shared SKUs (now or before).
{{ config(**feeds_incremental('product_id')) }}
{%- set affected = feeds_affected('product_id',
    feeds_rejects_parts('product_id', ref('int_products_prepared'), ['Sku'])
    + feeds_changed_part(ref('int_product_changes_conformed'), 'product_id', 'product_id')
    + ([
        'select product_id from ' ~ this ~ ' where source_id in (select cast(variant_id as '
            ~ dbt.type_string() ~ ') from ' ~ ref('int_product_changes_conformed')
            ~ ' where variant_id is not null and synced_at > ' ~ feeds_changed_after() ~ ')',
    ] if is_incremental() else [])
) %}

with

changes as (

    {{ feeds_changes(ref('int_product_changes_conformed')) }}

),

products as (

    {{ feeds_rows_in(ref('int_products_prepared'), 'product_id', affected.list) }}

),

source_variants as (

    {{ feeds_rows_in(ref('int_product_variants_conformed'), 'product_id', affected.list) }}

),

source_products as (

    {{ feeds_rows_in(ref('int_products_conformed'), 'product_id', affected.list) }}

),

rejects as (

    {%- set sale_price, price = adapter.quote('SalePrice'), adapter.quote('Price') %}
    {{ listrak_rejects('listrak_products', 'products', ['Sku'], entity='product_id',
        all_candidates=ref('int_products_prepared'), extra_checks=[
        {
            'reason': 'invalid_value',
            'condition': sale_price ~ ' > ' ~ price ~ ' or ' ~ price ~ ' < 0 or ' ~ sale_price ~ ' < 0',
            'detail': "'SalePrice ' || cast(" ~ sale_price ~ " as " ~ dbt.type_string() ~ ") || ' / Price ' || cast(" ~ price ~ " as " ~ dbt.type_string() ~ ") || ': negative or SalePrice above Price'",
        },
    ]) }}

),

not_candidates as (

    select
        source_variants.variant_id,
        source_variants.sku,
        source_variants.product_id as variant_product_id,
        source_products.product_id,
        source_products.status,
        source_products.published_at,
        source_products.is_deleted
    from source_variants
    left join products
        on cast(source_variants.variant_id as {{ dbt.type_string() }}) = products.source_id
    left join source_products
        on source_variants.product_id = source_products.product_id
    where products.source_id is null

),

classified as (

    select
        *,
        case
            when product_id is null then 'unknown_product'
            when is_deleted then 'deleted_product'
            when status = 'draft' then 'draft'
            when status = 'active' and published_at is null then 'unpublished'
            else 'other_status'
        end as reason
    from not_candidates

),

exclusions as (

    select
        sku as {{ adapter.quote('Sku') }},
        cast(variant_id as {{ dbt.type_string() }}) as source_id,
        cast('excluded' as {{ dbt.type_string() }}) as kind,
        cast(reason as {{ dbt.type_string() }}) as reject_reason,
        cast(null as {{ dbt.type_string() }}) as feed_column,
        cast(
            case reason
                when 'unknown_product' then 'the variant''s product is not in the source'
                when 'deleted_product' then 'the product is deleted in the source'
                when 'draft' then 'the product is a draft'
                when 'unpublished' then 'the product is active but not published'
                else 'the product''s status is ' || coalesce(status, 'empty')
            end as {{ dbt.type_string() }}
        ) as reject_detail,
        variant_product_id as product_id
    from classified

),

final as (

    select * from rejects
    union all
    select * from exclusions

)

{{ feeds_incremental_select('final', 'product_id', affected.relation) }}
