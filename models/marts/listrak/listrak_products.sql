-- The Products feed: candidates from int_products_prepared that are not quarantined in
-- listrak_products_rejects.
{{ config(**feeds_incremental('product_id')) }}
{{ listrak_feed_select(
    'listrak_products', ref('int_products_prepared'), ref('listrak_products_rejects'), 'product_id'
) }}
