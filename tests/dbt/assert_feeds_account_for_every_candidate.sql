-- No row is dropped silently: every candidate row of a feed is either in the feed mart or in
-- its rejects model. Returns the feeds whose counts disagree.
{%- set feeds = [
    ('orders', 'listrak_orders', 'int_orders_prepared'),
    ('order_items', 'listrak_order_items', 'int_order_items_prepared'),
    ('customers', 'listrak_customers', 'int_customers_prepared'),
    ('products', 'listrak_products', 'int_products_prepared'),
] %}
with

counts as (

    {%- for feed, mart, candidates in feeds %}
        select
            '{{ feed }}' as feed,
            (select count(*) from {{ ref(mart) }}) as feed_rows,
            (
                select count(distinct source_id) from {{ ref(mart ~ '_rejects') }}
                where kind = 'quarantined'
            ) as rejected_rows,
            (select count(*) from {{ ref(candidates) }}) as candidate_rows
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

)

select *
from counts
where feed_rows + rejected_rows != candidate_rows
