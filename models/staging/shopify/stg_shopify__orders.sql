with

source as (

    {{ shopify_source_select('shopify', 'order') }}

),

renamed as (

    select
        id as order_id,
        customer_id,
        coalesce({{ clean_text('name') }}, cast(order_number as {{ dbt.type_string() }})) as order_name,
        order_number,
        {{ normalize_email('email') }} as email,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(processed_at as {{ dbt.type_timestamp() }}) as processed_at,
        cast(cancelled_at as {{ dbt.type_timestamp() }}) as cancelled_at,
        {{ clean_text('cancel_reason') }} as cancel_reason,
        cast(closed_at as {{ dbt.type_timestamp() }}) as closed_at,
        lower({{ clean_text('financial_status') }}) as financial_status,
        lower({{ clean_text('fulfillment_status') }}) as fulfillment_status,
        {{ clean_text('currency') }} as currency,
        cast(subtotal_price as {{ dbt.type_numeric() }}) as subtotal_price,
        cast(total_line_items_price as {{ dbt.type_numeric() }}) as total_line_items_price,
        cast(total_discounts as {{ dbt.type_numeric() }}) as total_discounts,
        cast(total_tax as {{ dbt.type_numeric() }}) as total_tax,
        cast(total_price as {{ dbt.type_numeric() }}) as total_price,
        {{ clean_text('source_name') }} as source_name,
        coalesce(test, false) as is_test,
        {{ clean_text('billing_address_zip') }} as billing_address_zip,
        {{ clean_text('shipping_address_zip') }} as shipping_address_zip,
        coalesce(_fivetran_deleted, false) as is_deleted,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source

)

select * from renamed
