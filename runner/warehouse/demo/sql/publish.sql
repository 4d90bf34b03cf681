-- Copies the temp tables into the target schema, which runner/demo selects with `use` before
-- this script, as the raw tables an EL tool lands. The temp tables are already sorted; a plain
-- scan keeps that order (preserve_insertion_order), so sorting again here would only cost time.
-- The GraphQL-only tables of an earlier `--api graphql` run go, so the schema has one shape.

drop table if exists refund_line_item;
drop table if exists fulfillment_tracking_info;

create or replace table shop as
select
    61234567890::bigint as id,
    'Demo Shop' as name,
    getvariable('shop_domain') as domain,
    'demo-shop.myshopify.com' as myshopify_domain,
    'America/New_York' as iana_timezone,
    'USD' as currency,
    getvariable('as_of') - interval 5 minute as _fivetran_synced;
create or replace table customer as select * from _customer;
create or replace table collection as select * from _collection;
create or replace table product as
select * exclude (p, n_variants, base_price) from _product;
create or replace table product_variant as
select * exclude (v, p) from _product_variant;
create or replace table product_media as
select
    product_id,
    media_id,
    position,
    _fivetran_synced
from _product_media;
create or replace table media_image as
select
    media_id,
    image_id,
    image_url,
    image_alt_text,
    _fivetran_synced
from _product_media;
create or replace table collection_product as
select * from _collection_product;
create or replace table product_tag as select * from _product_tag;
create or replace table "order" as select * from _order;
create or replace table order_line as
select
    id,
    order_id,
    index,
    product_id,
    variant_id,
    sku,
    title,
    variant_title,
    name,
    vendor,
    price,
    quantity,
    total_discount,
    fulfillment_status,
    gift_card,
    synced('ol', id) as _fivetran_synced
from _order_line;
create or replace table order_shipping_line as select * from _order_shipping_line;
create or replace table order_discount_code as
select * from _order_discount_code;
create or replace table fulfillment as select * exclude (i) from _fulfillment;
create or replace table refund as
select
    id,
    order_id,
    created_at,
    created_at as processed_at,
    money_kind <> 'cancelled' and u('rrestock', i) < 0.8 as restock,
    synced('r', i) as _fivetran_synced
from _refund;
create or replace table order_line_refund as
select
    id,
    refund_id,
    order_line_id,
    quantity,
    subtotal,
    total_tax,
    restock_type,
    _fivetran_synced
from _order_line_refund;
