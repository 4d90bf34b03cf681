with

source as (

    {{ shopify_source_select('shopify', 'collection') }}

),

renamed as (

    select
        id as collection_id,
        {{ clean_text('title') }} as title,
        lower({{ clean_text('handle') }}) as handle,
        {{ clean_text('sort_order') }} as sort_order,
        cast(published_at as {{ dbt.type_timestamp() }}) as published_at,
        coalesce(_fivetran_deleted, false) as is_deleted
    from source

)

select * from renamed
