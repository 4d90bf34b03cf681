with

source as (

    {{ shopify_source_select('shopify', 'product_tag', drop_deleted=true) }}

),

renamed as (

    select
        product_id,
        index as tag_index,
        lower({{ clean_text('value') }}) as tag
    from source

)

select * from renamed
