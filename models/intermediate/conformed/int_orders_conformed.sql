-- Orders of every commerce source (var commerce_sources), one row per order, in source-neutral
-- columns and states; the feed candidates read orders only from here.
{{ conformed_union('orders', [
    'order_id',
    'order_number',
    'email',
    'created_at',
    'placed_at',
    'order_total',
    'item_subtotal',
    'tax_total',
    'discount_total',
    'is_cancelled',
    'payment_status',
    'fulfillment_status',
    'sales_channel',
    'billing_postal_code',
    'shipping_postal_code',
    'is_test',
    'is_deleted',
]) }}
