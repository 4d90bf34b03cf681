{#- The one place an order's (or order item's) conformed state becomes a status, the key of seed
    listrak_status_codes (column order_status), which gives the Listrak code. The first matching
    branch wins:
      cancelled   (10) is_cancelled, or the payment was voided
      returned     (9) payment refunded, fulfillment restocked, or every unit refunded
      shipped      (7) fulfillment fulfilled
      processing   (6) fulfillment partial, or payment paid
      pending      (4) payment pending
      not_set      (0) no payment status at all
      unknown     (11) any other payment status
    The arguments are conformed columns (int_orders_conformed, int_order_lines_conformed): a source
    maps its own states to them (e.g. macros shopify_payment_status, shopify_fulfillment_status).
    Portable SQL (case, comparisons), so no dispatch is needed. -#}
{% macro order_status(is_cancelled, payment_status, fulfillment_status, refunded_quantity, ordered_quantity) -%}
    case
        when {{ is_cancelled }} then 'cancelled'
        when {{ payment_status }} = 'voided' then 'cancelled'
        when {{ payment_status }} = 'refunded' then 'returned'
        when {{ fulfillment_status }} = 'restocked' then 'returned'
        when {{ ordered_quantity }} > 0 and {{ refunded_quantity }} >= {{ ordered_quantity }} then 'returned'
        when {{ fulfillment_status }} = 'fulfilled' then 'shipped'
        when {{ fulfillment_status }} = 'partial' then 'processing'
        when {{ payment_status }} = 'paid' then 'processing'
        when {{ payment_status }} = 'pending' then 'pending'
        when {{ payment_status }} is null then 'not_set'
        else 'unknown'
    end
{%- endmacro %}
