-- Sellable variants of every commerce source, one row per variant, with the SKU the feeds use.
{{ conformed_union('product_variants', [
    'variant_id',
    'product_id',
    'sku',
    'title',
    'price',
    'compare_at_price',
    'inventory_quantity',
    'allows_backorder',
]) }}
