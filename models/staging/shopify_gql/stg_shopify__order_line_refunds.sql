-- GraphQL shape of stg_shopify__order_line_refunds (models/staging/shopify/): same columns. The
-- table is order_line_refund on connections made before November 2025 and refund_line_item
-- after; either is read.
with

source as (

    {{ shopify_source_select('shopify_gql', 'order_line_refund', drop_deleted=true,
        alternatives=['refund_line_item', 'order_line_refund']) }}

),

renamed as (

    select
        id as order_line_refund_id,
        refund_id,
        order_line_id,
        cast(coalesce(quantity, 0) as {{ dbt.type_int() }}) as quantity,
        cast(subtotal_set_shop_amount as {{ dbt.type_numeric() }}) as subtotal,
        cast(total_tax_set_shop_amount as {{ dbt.type_numeric() }}) as total_tax,
        lower({{ clean_text('restock_type') }}) as restock_type
    from source

)

select * from renamed
