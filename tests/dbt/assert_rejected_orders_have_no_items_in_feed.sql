-- An order held back in listrak_orders_rejects takes all its items with it: none of them may
-- reach the order items feed.
with

order_items as (

    select * from {{ ref('listrak_order_items') }}

),

order_rejects as (

    -- Excluded orders are no candidates, and truncated ones are sent with their items.
    select * from {{ ref('listrak_orders_rejects') }}
    where kind = 'quarantined'

)

select
    order_items.{{ adapter.quote('OrderNumber') }},
    order_items.{{ adapter.quote('Sku') }},
    order_rejects.reject_reason
from order_items
inner join order_rejects
    on order_items.{{ adapter.quote('OrderNumber') }} = order_rejects.{{ adapter.quote('OrderNumber') }}
