with

source as (

    select
        id,
        title,
        handle,
        body_html,
        vendor,
        product_type,
        status,
        created_at,
        updated_at,
        published_at,
        _fivetran_deleted,
        _fivetran_synced
    from {{ source('shopify', 'product') }}

),

renamed as (

    select
        id as product_id,
        {{ clean_text('title') }} as title,
        {{ clean_text('handle') }} as handle,
        -- Kept as HTML: turned into plain text where the feed needs it (int_products_prepared).
        body_html,
        {{ clean_text('vendor') }} as vendor,
        {{ clean_text('product_type') }} as product_type,
        lower({{ clean_text('status') }}) as status,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(published_at as {{ dbt.type_timestamp() }}) as published_at,
        coalesce(_fivetran_deleted, false) as is_deleted,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source

)

select * from renamed
