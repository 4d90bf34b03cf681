-- GraphQL shape of stg_shopify__collection_products (models/staging/shopify/): same columns.
with

source as (

    {{ shopify_source_select('shopify_gql', 'collection_product', drop_deleted=true) }}

),

renamed as (

    select
        collection_id,
        product_id
    from source

)

select * from renamed
