-- The Orders feed: candidates from int_orders_prepared that are not quarantined in
-- listrak_orders_rejects. Columns, order and types come from _listrak__models.yml.
{{ config(**feeds_incremental('order_id')) }}
{{ listrak_feed_select(
    'listrak_orders', ref('int_orders_prepared'), ref('listrak_orders_rejects'), 'order_id'
) }}
