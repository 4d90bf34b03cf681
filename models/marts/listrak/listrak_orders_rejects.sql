-- Orders that cannot go into the Orders feed, one row per (order, reason). See listrak_rejects.
with

orders as (

    select * from {{ ref('int_orders_prepared') }}

),

rejects as (

    {{ listrak_rejects('listrak_orders', 'orders', ['OrderNumber']) }}

)

select * from rejects
