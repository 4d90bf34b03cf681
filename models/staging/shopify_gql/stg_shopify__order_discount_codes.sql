-- GraphQL shape of stg_shopify__order_discount_codes (models/staging/shopify/): same columns;
-- GraphQL lands no amount or type per code.
with

source as (

    {{ shopify_source_select('shopify_gql', 'order_discount_code', drop_deleted=true) }}

),

renamed as (

    select
        order_id,
        index as code_index,
        {{ clean_text('code') }} as code,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        cast(null as {{ dbt.type_string() }}) as discount_type
    from source

)

select * from renamed
