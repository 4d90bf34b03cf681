with

source as (

    select
        id,
        order_id,
        status,
        created_at,
        updated_at,
        tracking_company,
        tracking_number,
        service,
        shipment_status
    from {{ source('shopify', 'fulfillment') }}

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
