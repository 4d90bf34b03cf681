-- GraphQL shape of stg_shopify__product_tags (models/staging/shopify/): same columns.
with

source as (

    {{ shopify_source_select('shopify_gql', 'product_tag', drop_deleted=true) }}

),

renamed as (

    select
        product_id,
        index as tag_index,
        lower({{ clean_text('value') }}) as tag
    from source

)

select * from renamed
