-- GraphQL shape of stg_shopify__fulfillments (models/staging/shopify/): same columns. GraphQL
-- moved tracking to a child table (fulfillment_tracking_info, several entries per fulfillment);
-- the first entry is joined here so that this model keeps one row per fulfillment, as in REST.
with

source as (

    {{ shopify_source_select('shopify_gql', 'fulfillment', drop_deleted=true) }}

),

tracking_info as (

    {{ shopify_source_select('shopify_gql', 'fulfillment_tracking_info', drop_deleted=true) }}

),

ranked_tracking as (

    select
        fulfillment_id,
        company,
        number,
        row_number() over (partition by fulfillment_id order by index) as tracking_rank
    from tracking_info

),

first_tracking as (

    select
        fulfillment_id,
        company,
        number
    from ranked_tracking
    where tracking_rank = 1

),

renamed as (

    select
        source.id as fulfillment_id,
        source.order_id,
        lower({{ clean_text('source.status') }}) as status,
        cast(source.created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(source.updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        {{ clean_text('first_tracking.company') }} as tracking_company,
        {{ clean_text('first_tracking.number') }} as tracking_number,
        cast(null as {{ dbt.type_string() }}) as service,
        cast(null as {{ dbt.type_string() }}) as shipment_status
    from source
    left join first_tracking
        on source.id = first_tracking.fulfillment_id

)

select * from renamed
