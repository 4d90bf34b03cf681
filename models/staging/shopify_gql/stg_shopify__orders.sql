-- GraphQL shape of stg_shopify__orders (models/staging/shopify/): same columns, same meanings.
-- Money is the shop-currency amount (*_set_shop_amount): the REST connector's amounts are in shop
-- currency too, and one currency per store keeps feed totals comparable across orders paid in
-- different presentment currencies. Display statuses become the REST status words, so the
-- Listrak status codes are mapped once (int_shopify__orders).
with

source as (

    {{ shopify_source_select('shopify_gql', 'order') }}

),

renamed as (

    select
        id as order_id,
        customer_id,
        coalesce({{ clean_text('name') }}, cast(number as {{ dbt.type_string() }})) as order_name,
        number as order_number,
        {{ normalize_email('email') }} as email,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(processed_at as {{ dbt.type_timestamp() }}) as processed_at,
        cast(cancelled_at as {{ dbt.type_timestamp() }}) as cancelled_at,
        lower({{ clean_text('cancel_reason') }}) as cancel_reason,
        cast(closed_at as {{ dbt.type_timestamp() }}) as closed_at,
        {{ shopify_gql_financial_status('display_financial_status') }} as financial_status,
        {{ shopify_gql_fulfillment_status('display_fulfillment_status') }} as fulfillment_status,
        {{ clean_text('currency_code') }} as currency,
        cast(subtotal_price_set_shop_amount as {{ dbt.type_numeric() }}) as subtotal_price,
        -- GraphQL's order has no line-items total in every connector version: the subtotal is
        -- the line items after discounts, so adding the discounts back gives it.
        cast(
            coalesce(
                total_line_items_price_set_shop_amount,
                subtotal_price_set_shop_amount + coalesce(total_discounts_set_shop_amount, 0)
            ) as {{ dbt.type_numeric() }}
        ) as total_line_items_price,
        cast(total_discounts_set_shop_amount as {{ dbt.type_numeric() }}) as total_discounts,
        cast(total_tax_set_shop_amount as {{ dbt.type_numeric() }}) as total_tax,
        cast(total_price_set_shop_amount as {{ dbt.type_numeric() }}) as total_price,
        {{ clean_text('source_name') }} as source_name,
        coalesce(test, false) as is_test,
        {{ clean_text('billing_address_zip') }} as billing_address_zip,
        {{ clean_text('shipping_address_zip') }} as shipping_address_zip,
        coalesce(_fivetran_deleted, false) as is_deleted,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source

)

select * from renamed
