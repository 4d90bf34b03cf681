-- GraphQL shape of stg_shopify__order_lines (models/staging/shopify/): same columns, same meanings.
-- GraphQL lines carry no position, unit price in every version, or fulfillment status: the unit
-- price falls back to the line total over its quantity, and the status follows from the units
-- still unfulfilled (none: fulfilled; some: partial; all: null, as REST has it).
with

source as (

    {{ shopify_source_select('shopify_gql', 'order_line', drop_deleted=true) }}

),

renamed as (

    select
        id as order_line_id,
        order_id,
        cast(null as {{ dbt.type_int() }}) as line_index,
        product_id,
        variant_id,
        {{ clean_text('sku') }} as sku,
        {{ clean_text('title') }} as title,
        {{ clean_text('variant_title') }} as variant_title,
        {{ clean_text('name') }} as line_name,
        {{ clean_text('vendor') }} as vendor,
        cast(
            coalesce(
                original_unit_price_set_shop_amount,
                original_total_set_shop_amount / nullif(quantity, 0)
            ) as {{ dbt.type_numeric() }}
        ) as price,
        cast(quantity as {{ dbt.type_int() }}) as quantity,
        cast(coalesce(total_discount_set_shop_amount, 0) as {{ dbt.type_numeric() }}) as total_discount,
        case
            when unfulfilled_quantity is null or quantity is null then null
            when unfulfilled_quantity <= 0 then 'fulfilled'
            when unfulfilled_quantity < quantity then 'partial'
        end as fulfillment_status,
        coalesce(is_gift_card, false) as is_gift_card
    from source

)

select * from renamed
