-- Shopify shipping lines in the columns of int_order_shipping_lines_conformed: the method is the
-- line's title (else its code), the amount what the customer paid after shipping discounts.
with

shipping_lines as (

    select * from {{ ref('stg_shopify__order_shipping_lines') }}

),

final as (

    select
        order_shipping_line_id as shipping_line_id,
        order_id,
        coalesce(title, code) as shipping_method,
        coalesce(discounted_price, price) as shipping_amount
    from shipping_lines

)

select * from final
