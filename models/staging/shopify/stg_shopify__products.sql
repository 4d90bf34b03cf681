with

source as (

    {{ shopify_source_select('shopify', 'product') }}

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
        -- REST connector versions without status: a published product is active, else a draft.
        lower(
            coalesce(
                {{ clean_text('status') }},
                case when published_at is not null then 'active' else 'draft' end
            )
        ) as status,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(published_at as {{ dbt.type_timestamp() }}) as published_at,
        coalesce(_fivetran_deleted, false) as is_deleted,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source

)

select * from renamed
