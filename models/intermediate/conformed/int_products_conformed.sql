-- Products of every commerce source, one row per product, with link, brand, category, main image
-- and merchandising flags already resolved by the source's mapping.
{{ conformed_union('products', [
    'product_id',
    'title',
    'description_html',
    'product_url',
    'brand',
    'category',
    'sub_category',
    'image_url',
    'is_clearance',
    'is_outlet',
    'gender',
    'status',
    'published_at',
    'is_deleted',
]) }}
