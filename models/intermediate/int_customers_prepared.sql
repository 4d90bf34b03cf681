-- Candidate rows of the Customers feed: one per trimmed, lower-cased e-mail. When several
-- customer records share an e-mail the most recently updated one wins (then the highest id).
-- Records without an e-mail stay one row each, for listrak_customers_rejects to record.
-- ZipCode is the billing (else shipping) zip of the e-mail's latest real order that has one.
-- Incremental by customer_key (the e-mail, else 'customer-id:<id>'): a build recomputes the keys of
-- changed customer records and of the e-mails of changed real orders (int_orders_prepared: a
-- changed test or deleted order can only change a key whose zip it gave), and the keys the table
-- holds for them (the record that won a key, the order that gave its zip), so a key a record or an
-- order left is recomputed as well.
{{ config(**feeds_incremental('customer_key')) }}
-- depends_on: {{ ref('int_orders_prepared') }}

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
    {#- The cleaned e-mail of every order that is neither a test nor deleted, kept in a table: the
        orders of the affected e-mails are found here, so that the other orders' e-mails are
        never cleaned. #}
    orders_prepared as (

        select * from {{ ref('int_orders_prepared') }}

    ),

    affected as (

        select customers.customer_key
        from customers
        where customers.customer_id in (select customer_changes.customer_id from customer_changes)
        union all
        select orders_prepared.{{ adapter.quote('Email') }} as customer_key
        from orders_prepared
        where
            orders_prepared.{{ adapter.quote('Email') }} is not null
            and orders_prepared.order_id in (select order_changes.order_id from order_changes)
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

    -- The e-mail's latest order with a zip first (the join below takes it only if it has one).
    -- The zip is tested after the ranking, not before, and on an incremental build the orders are
    -- picked by id: a filter on the cleaned values would clean those of every order first.
    select
        email,
        order_id,
        zip_code,
        row_number() over (
            partition by email
            order by case when zip_code is null then 1 else 0 end, created_at desc, order_id desc
        ) as recency
    from (
        select
            email,
            order_id,
            created_at,
            coalesce(billing_postal_code, shipping_postal_code) as zip_code
        from orders
        where
            not is_test
            and not is_deleted
            {% if is_incremental() %}
                and order_id in (
                    select orders_prepared.order_id
                    from orders_prepared
                    where orders_prepared.{{ adapter.quote('Email') }} in (select affected.customer_key from affected)
                )
            {% endif %}
    ) as real_orders

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
            and order_zip_codes.zip_code is not null
    where ranked_customers.recency = 1

)

{{ feeds_incremental_select('final', 'customer_key', 'affected') }}
