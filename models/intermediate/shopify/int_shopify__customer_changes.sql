-- Shopify customer records that changed, in the columns of int_customer_changes_conformed: one row
-- per changed (or deleted) customer row and when it was synced.
with

changes as (

    select * from {{ ref('stg_shopify__changes') }}

),

final as (

    select
        entity_id as customer_id,
        synced_at
    from changes
    where entity = 'customer'

)

select * from final
