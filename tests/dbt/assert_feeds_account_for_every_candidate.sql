-- No row is dropped silently: every candidate row of a feed is either in the feed mart or in
-- its rejects model. Returns the feeds whose counts disagree.
with

order_candidates as (

    select source_id from {{ ref('int_orders_prepared') }}

),

order_item_candidates as (

    select source_id from {{ ref('int_order_items_prepared') }}

),

customer_candidates as (

    select source_id from {{ ref('int_customers_prepared') }}

),

product_candidates as (

    select source_id from {{ ref('int_products_prepared') }}

),

counts as (

    select
        'orders' as feed,
        (select count(*) from {{ ref('listrak_orders') }}) as feed_rows,
        (select count(distinct source_id) from {{ ref('listrak_orders_rejects') }}) as rejected_rows,
        (select count(*) from order_candidates) as candidate_rows
    union all
    select
        'order_items' as feed,
        (select count(*) from {{ ref('listrak_order_items') }}) as feed_rows,
        (select count(distinct source_id) from {{ ref('listrak_order_items_rejects') }}) as rejected_rows,
        (select count(*) from order_item_candidates) as candidate_rows
    union all
    select
        'customers' as feed,
        (select count(*) from {{ ref('listrak_customers') }}) as feed_rows,
        (select count(distinct source_id) from {{ ref('listrak_customers_rejects') }}) as rejected_rows,
        (select count(*) from customer_candidates) as candidate_rows
    union all
    select
        'products' as feed,
        (select count(*) from {{ ref('listrak_products') }}) as feed_rows,
        (select count(distinct source_id) from {{ ref('listrak_products_rejects') }}) as rejected_rows,
        (select count(*) from product_candidates) as candidate_rows

)

select *
from counts
where feed_rows + rejected_rows != candidate_rows
