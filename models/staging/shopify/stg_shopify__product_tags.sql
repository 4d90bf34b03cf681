with

source as (

    select
        product_id,
        index,
        value
    from {{ source('shopify', 'product_tag') }}

),

renamed as (

    select
        product_id,
        index as tag_index,
        lower({{ clean_text('value') }}) as tag
    from source

)

select * from renamed
