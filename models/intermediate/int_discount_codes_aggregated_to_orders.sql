-- CouponCode per order: the order's distinct discount codes in the order they were applied,
-- joined with ",". When the joined text would exceed the feed's 32 characters, only the first
-- code is sent (a code alone that is longer is cut to the maximum by the mart, and counted).
{{ config(**feeds_incremental('order_id')) }}
{% if is_incremental() %}
    {% set changed_orders = feeds_changed_keys(ref('int_order_changes_conformed'), 'order_id') %}
{% endif %}

with

changes as (

    {{ feeds_changes(ref('int_order_changes_conformed')) }}

),

discount_codes as (

    {{ feeds_rows_in(ref('int_order_discount_codes_conformed'), 'order_id', changed_orders) }}

),

distinct_codes as (

    select
        order_id,
        code,
        min(code_position) as first_index
    from discount_codes
    where code is not null
    group by order_id, code

),

ranked_codes as (

    select
        order_id,
        code,
        first_index,
        row_number() over (partition by order_id order by first_index, code) as code_rank
    from distinct_codes

),

joined as (

    select
        order_id,
        {{ ordered_listagg('code', "','", 'code_rank') }} as all_codes
    from ranked_codes
    group by order_id

),

final as (

    select
        joined.order_id,
        joined.all_codes,
        case
            when length(joined.all_codes) <= 32 then joined.all_codes
            else ranked_codes.code
        end as coupon_code
    from joined
    left join ranked_codes
        on
            joined.order_id = ranked_codes.order_id
            and ranked_codes.code_rank = 1

)

{{ feeds_incremental_select('final', 'order_id', 'changes') }}
