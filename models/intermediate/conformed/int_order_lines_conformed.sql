-- Order lines of every commerce source, one row per line, with the SKU the feeds use and the
-- units refunded.
{{ conformed_union('order_lines', [
    'order_line_id',
    'order_id',
    'sku',
    'quantity',
    'unit_price',
    'discount_amount',
    'fulfillment_status',
    'refunded_quantity',
]) }}
