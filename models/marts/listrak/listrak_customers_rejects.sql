-- Customers that cannot go into the Customers feed, one row per (customer, reason).
with

customers as (

    select * from {{ ref('int_customers_prepared') }}

),

rejects as (

    {{ listrak_rejects('listrak_customers', 'customers', ['Email']) }}

)

select * from rejects
