-- GraphQL shape of stg_shopify__changes (models/staging/shopify/): same columns; it also lists
-- fulfillment tracking rows, a table of their own in that API.
-- One row per raw row of every table the feeds read, deleted rows included: the entity the row
-- belongs to (entity, entity_id) and when the connector last wrote it. The incremental models
-- recompute the entities with rows synced since their last build (see macros/incremental.sql).
-- Entities: order, refund (a refund line), fulfillment, customer, product, variant, media,
-- collection, shop; int_shopify__*_changes map them to the ids the feeds are built by.
{{ shopify_changes('shopify_gql', [
    ['order', 'id', 'order'],
    ['order', 'order_id', 'order_line'],
    ['order', 'order_id', 'order_shipping_line'],
    ['order', 'order_id', 'order_discount_code'],
    ['order', 'order_id', 'fulfillment'],
    ['fulfillment', 'fulfillment_id', 'fulfillment_tracking_info'],
    ['order', 'order_id', 'refund'],
    ['refund', 'refund_id', 'order_line_refund'],
    ['customer', 'id', 'customer'],
    ['product', 'id', 'product'],
    ['product', 'product_id', 'product_variant'],
    ['variant', 'id', 'product_variant'],
    ['product', 'product_id', 'product_media'],
    ['media', 'media_id', 'media_image'],
    ['collection', 'id', 'collection'],
    ['product', 'product_id', 'collection_product'],
    ['product', 'product_id', 'product_tag'],
    ['shop', 'id', 'shop'],
],
    alternatives={'order_line_refund': ['refund_line_item', 'order_line_refund']}) }}
