-- Shipping charges of every commerce source, one row per shipping line of an order.
{{ conformed_union('order_shipping_lines', [
    'shipping_line_id',
    'order_id',
    'shipping_method',
    'shipping_amount',
]) }}
