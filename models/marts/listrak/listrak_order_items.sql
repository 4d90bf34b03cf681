-- The Order Items feed: candidates from int_order_items_prepared that are not quarantined in
-- listrak_order_items_rejects (which includes every item of a rejected order).
{{ config(**feeds_incremental('order_id')) }}
{{ listrak_feed_select(
    'listrak_order_items', ref('int_order_items_prepared'), ref('listrak_order_items_rejects'), 'order_id'
) }}
