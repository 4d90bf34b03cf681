-- No source row vanishes: every row of a feed's source (orders, merged order lines, customer
-- records, variants) is in the feed, quarantined, or excluded by a documented rule, and never
-- both quarantined and excluded. Returns the feeds whose counts disagree.
{%- set feeds = [
    ('orders', 'listrak_orders', 'stg_shopify__orders'),
    ('order_items', 'listrak_order_items', 'int_order_lines_merged'),
    ('customers', 'listrak_customers', 'stg_shopify__customers'),
    ('products', 'listrak_products', 'stg_shopify__product_variants'),
] %}
with

counts as (

    {%- for feed, mart, sources in feeds %}
        select
            '{{ feed }}' as feed,
            (select count(*) from {{ ref(mart) }}) as feed_rows,
            (
                select count(distinct source_id) from {{ ref(mart ~ '_rejects') }}
                where kind = 'quarantined'
            ) as quarantined_rows,
            (
                select count(distinct source_id) from {{ ref(mart ~ '_rejects') }}
                where kind = 'excluded'
            ) as excluded_rows,
            (select count(*) from {{ ref(sources) }}) as source_rows
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

)

select *
from counts
where feed_rows + quarantined_rows + excluded_rows != source_rows
