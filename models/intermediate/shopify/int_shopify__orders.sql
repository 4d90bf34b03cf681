-- Shopify orders in the columns of int_orders_conformed. Shopify's names and states become the
-- conformed ones here (financial_status -> payment_status, source_name -> sales_channel, ...),
-- so no model after the conformed layer reads a Shopify value.
with

orders as (

    select * from {{ ref('stg_shopify__orders') }}

),

final as (

    select
        order_id,
        order_name as order_number,
        email,
        created_at,
        -- processed_at is the original date of orders imported into Shopify.
        coalesce(processed_at, created_at) as placed_at,
        total_price as order_total,
        total_line_items_price as item_subtotal,
        total_tax as tax_total,
        total_discounts as discount_total,
        cancelled_at is not null as is_cancelled,
        {{ shopify_payment_status('financial_status') }} as payment_status,
        {{ shopify_fulfillment_status('fulfillment_status') }} as fulfillment_status,
        case lower(source_name)
            when 'web' then 'online'
            when 'pos' then 'POS'
            else source_name
        end as sales_channel,
        billing_address_zip as billing_postal_code,
        shipping_address_zip as shipping_postal_code,
        is_test,
        is_deleted
    from orders

)

select * from final
