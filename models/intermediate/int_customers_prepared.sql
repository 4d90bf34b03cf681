-- Candidate rows of the Customers feed: one per trimmed, lower-cased e-mail. When several
-- customer records share an e-mail the most recently updated one wins (then the highest id).
-- Records without an e-mail stay one row each, for listrak_customers_rejects to record.
-- ZipCode is the billing (else shipping) zip of the e-mail's latest real order that has one.
-- Incremental by customer_key (the e-mail, else 'customer-id:<id>'): a build recomputes the keys of
-- changed customer records and of the e-mails of changed orders, and the keys the table holds for
-- them (the record that won a key, the order that gave its zip), so a key a record or an order
-- left is recomputed as well.
{{ config(**feeds_incremental('customer_key')) }}

with

customer_changes as (

    {{ feeds_changes(ref('int_customer_changes_conformed')) }}

),

order_changes as (

    {{ feeds_changes(ref('int_order_changes_conformed')) }}

),

changes as (

    select synced_at from customer_changes
    union all
    select synced_at from order_changes

),

customers as (

    select
        *,
        coalesce(email, 'customer-id:' || cast(customer_id as {{ dbt.type_string() }})) as customer_key
    from {{ ref('int_customers_conformed') }}

),

orders as (

    select * from {{ ref('int_orders_conformed') }}

),

{% if is_incremental() %}
    affected as (

        select customers.customer_key
        from customers
        where customers.customer_id in (select customer_changes.customer_id from customer_changes)
        union all
        select orders.email as customer_key
        from orders
        where
            orders.email is not null
            and orders.order_id in (select order_changes.order_id from order_changes)
        union all
        select previous.customer_key
        from {{ this }} as previous
        where
            previous.source_id in (
                select cast(customer_changes.customer_id as {{ dbt.type_string() }}) from customer_changes
            )
            or previous.zip_order_id in (select order_changes.order_id from order_changes)

    ),
{% endif %}

ranked_customers as (

    select
        *,
        row_number() over (
            partition by customer_key
            order by updated_at desc nulls last, customer_id desc
        ) as recency
    from customers
    where
        not is_deleted
        {% if is_incremental() %}
            and customer_key in (select affected.customer_key from affected)
        {% endif %}

),

order_zip_codes as (

    select
        email,
        order_id,
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
        {% if is_incremental() %}
            and email in (select affected.customer_key from affected)
        {% endif %}

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
        cast(ranked_customers.customer_id as {{ dbt.type_string() }}) as source_id,
        ranked_customers.customer_key,
        order_zip_codes.order_id as zip_order_id
    from ranked_customers
    left join order_zip_codes
        on
            ranked_customers.email = order_zip_codes.email
            and order_zip_codes.recency = 1
    where ranked_customers.recency = 1

)

{{ feeds_incremental_select('final', 'customer_key', 'affected') }}
