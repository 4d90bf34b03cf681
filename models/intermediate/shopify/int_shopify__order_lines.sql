-- Shopify order lines in the columns of int_order_lines_conformed: a line without a SKU takes
-- its variant's current SKU, then the variant fallback SKU (shopify-variant-<id>); custom items
-- (no SKU, no variant) keep a null sku. Refunded units are summed per line.
with

order_lines as (

    select * from {{ ref('stg_shopify__order_lines') }}

),

order_line_refunds as (

    select * from {{ ref('stg_shopify__order_line_refunds') }}

),

product_variants as (

    select * from {{ ref('stg_shopify__product_variants') }}

),

refunded_quantities as (

    select
        order_line_id,
        sum(quantity) as refunded_quantity
    from order_line_refunds
    group by order_line_id

),

final as (

    select
        order_lines.order_line_id,
        order_lines.order_id,
        coalesce(
            order_lines.sku,
            product_variants.sku,
            {{ shopify_fallback_sku('order_lines.variant_id') }}
        ) as sku,
        order_lines.quantity,
        order_lines.price as unit_price,
        order_lines.total_discount as discount_amount,
        {{ shopify_fulfillment_status('order_lines.fulfillment_status') }} as fulfillment_status,
        coalesce(refunded_quantities.refunded_quantity, 0) as refunded_quantity
    from order_lines
    left join product_variants
        on order_lines.variant_id = product_variants.variant_id
    left join refunded_quantities
        on order_lines.order_line_id = refunded_quantities.order_line_id

)

select * from final
