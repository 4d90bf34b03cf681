-- Shopify discount codes in the columns of int_order_discount_codes_conformed.
with

discount_codes as (

    select * from {{ ref('stg_shopify__order_discount_codes') }}

),

final as (

    select
        order_id,
        code,
        code_index as code_position
    from discount_codes

)

select * from final
