with

source as (

    {{ shopify_source_select('shopify', 'customer') }}

),

renamed as (

    select
        id as customer_id,
        {{ normalize_email('email') }} as email,
        {{ clean_text('first_name') }} as first_name,
        {{ clean_text('last_name') }} as last_name,
        {{ clean_text('phone') }} as phone,
        lower({{ clean_text('state') }}) as account_state,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        verified_email as is_email_verified,
        accepts_marketing as is_accepting_marketing,
        lower({{ clean_text('email_marketing_consent_state') }}) as email_marketing_consent_state,
        default_address_id,
        coalesce(_fivetran_deleted, false) as is_deleted,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source

)

select * from renamed
