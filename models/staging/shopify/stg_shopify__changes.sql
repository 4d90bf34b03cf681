-- One row per raw row of every table the feeds read, deleted rows included: the entity the row
-- belongs to (entity, entity_id) and when the connector last wrote it. The incremental models
-- recompute the entities with rows synced since their last build (see macros/incremental.sql).
-- Entities: order, refund (a refund line), fulfillment, customer, product, variant, media,
-- collection, shop; int_shopify__*_changes map them to the ids the feeds are built by.
with

orders as (

    {{ shopify_source_select('shopify', 'order') }}

),

order_lines as (

    {{ shopify_source_select('shopify', 'order_line') }}

),

order_shipping_lines as (

    {{ shopify_source_select('shopify', 'order_shipping_line') }}

),

order_discount_codes as (

    {{ shopify_source_select('shopify', 'order_discount_code') }}

),

fulfillments as (

    {{ shopify_source_select('shopify', 'fulfillment') }}

),

refunds as (

    {{ shopify_source_select('shopify', 'refund') }}

),

order_line_refunds as (

    {{ shopify_source_select('shopify', 'order_line_refund') }}

),

customers as (

    {{ shopify_source_select('shopify', 'customer') }}

),

products as (

    {{ shopify_source_select('shopify', 'product') }}

),

product_variants as (

    {{ shopify_source_select('shopify', 'product_variant') }}

),

product_media as (

    {{ shopify_source_select('shopify', 'product_media') }}

),

media_images as (

    {{ shopify_source_select('shopify', 'media_image') }}

),

collections as (

    {{ shopify_source_select('shopify', 'collection') }}

),

collection_products as (

    {{ shopify_source_select('shopify', 'collection_product') }}

),

product_tags as (

    {{ shopify_source_select('shopify', 'product_tag') }}

),

shops as (

    {{ shopify_source_select('shopify', 'shop') }}

),

final as (

    select
        cast('order' as {{ dbt.type_string() }}) as entity,
        cast(id as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from orders
    union all
    select
        cast('order' as {{ dbt.type_string() }}) as entity,
        cast(order_id as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from order_lines
    union all
    select
        cast('order' as {{ dbt.type_string() }}) as entity,
        cast(order_id as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from order_shipping_lines
    union all
    select
        cast('order' as {{ dbt.type_string() }}) as entity,
        cast(order_id as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from order_discount_codes
    union all
    select
        cast('order' as {{ dbt.type_string() }}) as entity,
        cast(order_id as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from fulfillments
    union all
    select
        cast('order' as {{ dbt.type_string() }}) as entity,
        cast(order_id as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from refunds
    union all
    select
        cast('refund' as {{ dbt.type_string() }}) as entity,
        cast(refund_id as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from order_line_refunds
    union all
    select
        cast('customer' as {{ dbt.type_string() }}) as entity,
        cast(id as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from customers
    union all
    select
        cast('product' as {{ dbt.type_string() }}) as entity,
        cast(id as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from products
    union all
    select
        cast('product' as {{ dbt.type_string() }}) as entity,
        cast(product_id as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from product_variants
    union all
    select
        cast('variant' as {{ dbt.type_string() }}) as entity,
        cast(id as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from product_variants
    union all
    select
        cast('product' as {{ dbt.type_string() }}) as entity,
        cast(product_id as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from product_media
    union all
    select
        cast('media' as {{ dbt.type_string() }}) as entity,
        cast(media_id as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from media_images
    union all
    select
        cast('collection' as {{ dbt.type_string() }}) as entity,
        cast(id as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from collections
    union all
    select
        cast('product' as {{ dbt.type_string() }}) as entity,
        cast(product_id as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from collection_products
    union all
    select
        cast('product' as {{ dbt.type_string() }}) as entity,
        cast(product_id as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from product_tags
    union all
    select
        cast('shop' as {{ dbt.type_string() }}) as entity,
        cast(id as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from shops

)

select * from final
