with

source as (

    {{ shopify_source_select('shopify', 'fulfillment', drop_deleted=true) }}

),

renamed as (

    select
        id as fulfillment_id,
        order_id,
        lower({{ clean_text('status') }}) as status,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        {{ clean_text('tracking_company') }} as tracking_company,
        {{ clean_text('tracking_number') }} as tracking_number,
        {{ clean_text('service') }} as service,
        lower({{ clean_text('shipment_status') }}) as shipment_status
    from source

)

select * from renamed
