-- Changed source rows of every commerce source that belong to a product (product_id), or to a
-- variant (variant_id, whose product then and now are both recomputed), and when they were synced.
{{ conformed_union('product_changes', [
    'product_id',
    'variant_id',
    'synced_at',
]) }}
