-- Shipments (fulfillments that shipped) of every commerce source, one row per shipment.
{{ conformed_union('shipments', [
    'shipment_id',
    'order_id',
    'shipped_at',
    'tracking_number',
    'carrier',
]) }}
