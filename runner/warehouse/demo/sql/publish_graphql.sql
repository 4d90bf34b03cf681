-- The GraphQL shape of publish.sql: the same store (the same temp tables), landed as Fivetran's
-- GraphQL Shopify connector lands it. Column names and value spellings follow Fivetran's
-- published dbt_shopify GraphQL sources: money in *_set_shop_amount, capitalised display
-- statuses, tracking in fulfillment_tracking_info, refund lines in refund_line_item (the table
-- name of connections made after November 2025). Two columns beyond that published set carry
-- what the feeds send and GraphQL has: product.description_html (Product.descriptionHtml) and
-- customer._fivetran_deleted. The REST-only table order_line_refund of an earlier run is dropped.

drop table if exists order_line_refund;
create or replace table shop as
select
    61234567890::bigint as id,
    'Demo Shop' as name,
    getvariable('shop_domain') as primary_domain_host,
    'demo-shop.myshopify.com' as myshopify_domain,
    'America/New_York' as iana_timezone,
    'USD' as currency_code,
    false as _fivetran_deleted,
    getvariable('as_of') - interval 5 minute as _fivetran_synced;
create or replace table customer as
select
    id,
    email,
    first_name,
    last_name,
    phone,
    state,
    created_at,
    updated_at,
    verified_email,
    upper(email_marketing_consent_state) as email_marketing_consent_state,
    _fivetran_deleted,
    _fivetran_synced
from _customer;
create or replace table collection as
select
    id,
    title,
    handle,
    sort_order,
    coalesce(published_at, _fivetran_synced) as updated_at,
    _fivetran_deleted,
    _fivetran_synced
from _collection;
create or replace table product as
select
    id,
    title,
    handle,
    body_html as description_html,
    vendor,
    product_type,
    upper(status) as status,
    created_at,
    updated_at,
    published_at,
    _fivetran_deleted,
    _fivetran_synced
from _product;
create or replace table product_variant as
select * exclude (v, p) from _product_variant;
create or replace table product_media as
select
    product_id,
    media_id,
    _fivetran_synced
from _product_media;
create or replace table media_image as
select
    media_id,
    image_id,
    image_url,
    image_alt_text
from _product_media;
create or replace table collection_product as
select * from _collection_product;
create or replace table product_tag as select * from _product_tag;
create or replace table "order" as
select
    id,
    name,
    order_number as number,
    email,
    customer_id,
    created_at,
    updated_at,
    processed_at,
    cancelled_at,
    upper(cancel_reason) as cancel_reason,
    closed_at,
    upper(financial_status) as display_financial_status,
    case fulfillment_status
        when 'fulfilled' then 'FULFILLED'
        when 'partial' then 'PARTIALLY_FULFILLED'
        when 'restocked' then 'RESTOCKED'
        else 'UNFULFILLED'
    end as display_fulfillment_status,
    currency as currency_code,
    subtotal_price as subtotal_price_set_shop_amount,
    total_discounts as total_discounts_set_shop_amount,
    total_tax as total_tax_set_shop_amount,
    total_price as total_price_set_shop_amount,
    source_name,
    test,
    billing_address_zip,
    shipping_address_zip,
    _fivetran_deleted,
    _fivetran_synced
from _order;
create or replace table order_line as
select
    id,
    order_id,
    product_id,
    variant_id,
    sku,
    title,
    variant_title,
    name,
    vendor,
    price as original_unit_price_set_shop_amount,
    (price * quantity)::decimal(18, 2) as original_total_set_shop_amount,
    quantity,
    total_discount as total_discount_set_shop_amount,
    case when fulfillment_status = 'fulfilled' then 0 else quantity end as unfulfilled_quantity,
    gift_card as is_gift_card,
    synced('ol', id) as _fivetran_synced
from _order_line;
create or replace table order_shipping_line as
select
    id,
    order_id,
    title,
    code,
    price as original_price_set_shop_amount,
    discounted_price as discounted_price_set_shop_amount,
    _fivetran_synced
from _order_shipping_line;
create or replace table order_discount_code as
select
    order_id,
    index,
    code,
    _fivetran_synced
from _order_discount_code;
create or replace table fulfillment as
select
    id,
    order_id,
    upper(status) as status,
    created_at,
    updated_at,
    _fivetran_synced
from _fulfillment;
create or replace table fulfillment_tracking_info as
select
    id as fulfillment_id,
    0 as index,
    tracking_company as company,
    tracking_number as number,
    _fivetran_synced
from _fulfillment
where tracking_company is not null or tracking_number is not null;
create or replace table refund as
select
    id,
    order_id,
    created_at,
    synced('r', i) as _fivetran_synced
from _refund;
create or replace table refund_line_item as
select
    id,
    refund_id,
    order_line_id,
    quantity,
    restock_type,
    subtotal as subtotal_set_shop_amount,
    total_tax as total_tax_set_shop_amount,
    _fivetran_synced
from _order_line_refund;
