with

source as (

    {{ shopify_source_select('shopify', 'collection_product', drop_deleted=true) }}

),

renamed as (

    select
        collection_id,
        product_id
    from source

)

select * from renamed
