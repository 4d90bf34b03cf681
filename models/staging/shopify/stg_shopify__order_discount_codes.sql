with

source as (

    {{ shopify_source_select('shopify', 'order_discount_code', drop_deleted=true) }}

),

renamed as (

    select
        order_id,
        index as code_index,
        {{ clean_text('code') }} as code,
        cast(amount as {{ dbt.type_numeric() }}) as amount,
        lower({{ clean_text('type') }}) as discount_type
    from source

)

select * from renamed
