-- Shopify customer records in the columns of int_customers_conformed.
with

customers as (

    select * from {{ ref('stg_shopify__customers') }}

),

final as (

    select
        customer_id,
        email,
        first_name,
        last_name,
        updated_at,
        -- Shopify's account state: only "enabled" means the customer has an account.
        case
            when account_state is null then null
            else account_state = 'enabled'
        end as is_registered,
        is_deleted
    from customers

)

select * from final
