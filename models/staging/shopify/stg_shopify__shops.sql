with

source as (

    {{ shopify_source_select('shopify', 'shop') }}

),

renamed as (

    select
        id as shop_id,
        {{ clean_text('name') }} as shop_name,
        lower({{ clean_text('domain') }}) as shop_domain,
        lower({{ clean_text('myshopify_domain') }}) as myshopify_domain,
        {{ clean_text('iana_timezone') }} as iana_timezone,
        {{ clean_text('currency') }} as currency
    from source

)

select * from renamed
