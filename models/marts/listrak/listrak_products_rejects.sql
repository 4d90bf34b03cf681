-- Variants that cannot go into the Products feed, one row per (variant, reason). Two variants
-- with the same SKU are both rejected (duplicate_key): Listrak would keep only one of them.
with

products as (

    select * from {{ ref('int_products_prepared') }}

),

rejects as (

    {{ listrak_rejects('listrak_products', 'products', ['Sku'], extra_checks=[
        {
            'reason': 'invalid_value',
            'condition': '"SalePrice" > "Price" or "Price" < 0 or "SalePrice" < 0',
            'detail': "'SalePrice ' || cast(\"SalePrice\" as " ~ dbt.type_string() ~ ") || ' / Price ' || cast(\"Price\" as " ~ dbt.type_string() ~ ") || ': negative or SalePrice above Price'",
        },
    ]) }}

)

select * from rejects
