-- Candidate rows of the Customers feed: one per trimmed, lower-cased e-mail. When several
-- customer records share an e-mail the most recently updated one wins (then the highest id).
-- Records without an e-mail stay one row each, for listrak_customers_rejects to record.
-- ZipCode is the billing (else shipping) zip of the e-mail's latest real order that has one.
with

customers as (

    select * from {{ ref('int_customers_conformed') }}

),

orders as (

    select * from {{ ref('int_orders_conformed') }}

),

ranked_customers as (

    select
        *,
        row_number() over (
            partition by coalesce(email, 'customer-id:' || cast(customer_id as {{ dbt.type_string() }}))
            order by updated_at desc nulls last, customer_id desc
        ) as recency
    from customers
    where not is_deleted

),

order_zip_codes as (

    select
        email,
        coalesce(billing_postal_code, shipping_postal_code) as zip_code,
        row_number() over (
            partition by email
            order by created_at desc, order_id desc
        ) as recency
    from orders
    where
        not is_test
        and not is_deleted
        and email is not null
        and coalesce(billing_postal_code, shipping_postal_code) is not null

),

final as (

    select
        ranked_customers.email as {{ adapter.quote('Email') }},
        ranked_customers.first_name as {{ adapter.quote('FirstName') }},
        ranked_customers.last_name as {{ adapter.quote('LastName') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Gender') }},
        cast(null as date) as {{ adapter.quote('Birthday') }},
        order_zip_codes.zip_code as {{ adapter.quote('ZipCode') }},
        cast(ranked_customers.customer_id as {{ dbt.type_string() }}) as {{ adapter.quote('CustomerNumber') }},
        ranked_customers.is_registered as {{ adapter.quote('Registered') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta1') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta2') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta3') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta4') }},
        cast(null as {{ dbt.type_string() }}) as {{ adapter.quote('Meta5') }},
        cast(ranked_customers.customer_id as {{ dbt.type_string() }}) as source_id
    from ranked_customers
    left join order_zip_codes
        on
            ranked_customers.email = order_zip_codes.email
            and order_zip_codes.recency = 1
    where ranked_customers.recency = 1

)

select * from final
