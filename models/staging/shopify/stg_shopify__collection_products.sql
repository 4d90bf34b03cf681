with

source as (

    select
        collection_id,
        product_id
    from {{ source('shopify', 'collection_product') }}

),

renamed as (

    select
        collection_id,
        product_id
    from source

)

select * from renamed
