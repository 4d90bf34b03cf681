-- Discount codes applied to orders, of every commerce source, in the order they were applied.
{{ conformed_union('order_discount_codes', [
    'order_id',
    'code',
    'code_position',
]) }}
