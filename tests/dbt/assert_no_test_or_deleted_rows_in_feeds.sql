-- Test orders and rows deleted in the source never reach a feed: no feed row may come only from
-- such source rows.
-- Each excluded set is one grouped pass over the entity's key and flags: at 10M orders the
-- set-difference form (every excluded key EXCEPT every kept one, over CTEs of whole rows) needed
-- more than the 500MB DuckDB cap. A key is excluded when every row of it with known flags is
-- excluded (bool_and skips nulls, as EXCEPT skipped rows whose flags were null).
with

excluded_order_numbers as (

    select order_number
    from {{ ref('int_orders_conformed') }}
    group by order_number
    having bool_and(is_test or is_deleted)

),

excluded_emails as (

    select email
    from {{ ref('int_customers_conformed') }}
    group by email
    having bool_and(is_deleted)

),

deleted_skus as (

    select variants.sku
    from {{ ref('int_product_variants_conformed') }} as variants
    inner join {{ ref('int_products_conformed') }} as products
        on variants.product_id = products.product_id
    group by variants.sku
    having bool_and(products.is_deleted)

),

leaks as (

    select
        'listrak_orders' as feed,
        listrak_orders.{{ adapter.quote('OrderNumber') }} as feed_key
    from {{ ref('listrak_orders') }} as listrak_orders
    inner join excluded_order_numbers
        on listrak_orders.{{ adapter.quote('OrderNumber') }} = excluded_order_numbers.order_number
    union all
    select
        'listrak_order_items' as feed,
        listrak_order_items.{{ adapter.quote('OrderNumber') }} as feed_key
    from {{ ref('listrak_order_items') }} as listrak_order_items
    inner join excluded_order_numbers
        on listrak_order_items.{{ adapter.quote('OrderNumber') }} = excluded_order_numbers.order_number
    union all
    select
        'listrak_customers' as feed,
        listrak_customers.{{ adapter.quote('Email') }} as feed_key
    from {{ ref('listrak_customers') }} as listrak_customers
    inner join excluded_emails
        on listrak_customers.{{ adapter.quote('Email') }} = excluded_emails.email
    {%- if not var('deleted_products_as_discontinued', false) %}
        union all
        select
            'listrak_products' as feed,
            listrak_products.{{ adapter.quote('Sku') }} as feed_key
        from {{ ref('listrak_products') }} as listrak_products
        inner join deleted_skus
            on listrak_products.{{ adapter.quote('Sku') }} = deleted_skus.sku
    {%- endif %}

)

select * from leaks
