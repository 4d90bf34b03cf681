-- Test orders and rows deleted in the source never reach a feed: no feed row may come only from
-- such source rows.
with

orders as (

    select * from {{ ref('int_orders_conformed') }}

),

customers as (

    select * from {{ ref('int_customers_conformed') }}

),

products as (

    select * from {{ ref('int_products_conformed') }}

),

variants as (

    select * from {{ ref('int_product_variants_conformed') }}

),

excluded_order_numbers as (

    select order_number from orders
    where is_test or is_deleted
    except
    select order_number from orders
    where not is_test and not is_deleted

),

excluded_emails as (

    select email from customers
    where is_deleted
    except
    select email from customers
    where not is_deleted

),

deleted_skus as (

    select variants.sku
    from variants
    inner join products
        on variants.product_id = products.product_id
    where products.is_deleted
    except
    select variants.sku
    from variants
    inner join products
        on variants.product_id = products.product_id
    where not products.is_deleted

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
