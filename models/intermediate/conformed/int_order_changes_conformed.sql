-- Changed source rows of every commerce source that belong to an order: the order and when the row
-- was synced. The incremental order models recompute the orders synced since their last build.
{{ conformed_union('order_changes', [
    'order_id',
    'synced_at',
]) }}
