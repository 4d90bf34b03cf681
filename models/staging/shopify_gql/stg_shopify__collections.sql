-- GraphQL shape of stg_shopify__collections (models/staging/shopify/): same columns. The GraphQL
-- connector lands no publication date for collections: a collection it syncs counts as
-- published (its updated_at, else its sync time, stands in), deleted ones stay out by is_deleted.
with

source as (

    {{ shopify_source_select('shopify_gql', 'collection') }}

),

renamed as (

    select
        id as collection_id,
        {{ clean_text('title') }} as title,
        lower({{ clean_text('handle') }}) as handle,
        {{ clean_text('sort_order') }} as sort_order,
        cast(coalesce(published_at, updated_at, _fivetran_synced) as {{ dbt.type_timestamp() }}) as published_at,
        coalesce(_fivetran_deleted, false) as is_deleted
    from source

)

select * from renamed
