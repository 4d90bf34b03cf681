{#- The one place Shopify order state becomes a Listrak status code (seed listrak_status_codes).
    Used for whole orders and for single order-item rows; the first matching branch wins:
      10 Canceled   cancelled_at is set, or the payment was voided
       9 Returned   financial_status refunded, fulfillment_status restocked, or every unit refunded
       7 Shipped    fulfillment_status fulfilled
       6 Processing fulfillment_status partial, or paid / partially_paid / partially_refunded
       4 Pending    pending or authorized payment, nothing shipped
       0 Not Set    no financial status at all
      11 Unknown    any other value (a new Shopify state shows up here instead of being guessed)
    Portable SQL (case, comparisons), so no dispatch is needed. -#}
{% macro listrak_status_code(cancelled_at, financial_status, fulfillment_status, refunded_quantity, ordered_quantity) -%}
    case
        when {{ cancelled_at }} is not null then 10
        when {{ financial_status }} = 'voided' then 10
        when {{ financial_status }} = 'refunded' then 9
        when {{ fulfillment_status }} = 'restocked' then 9
        when {{ ordered_quantity }} > 0 and {{ refunded_quantity }} >= {{ ordered_quantity }} then 9
        when {{ fulfillment_status }} = 'fulfilled' then 7
        when {{ fulfillment_status }} = 'partial' then 6
        when {{ financial_status }} in ('paid', 'partially_paid', 'partially_refunded') then 6
        when {{ financial_status }} in ('pending', 'authorized') then 4
        when {{ financial_status }} is null then 0
        else 11
    end
{%- endmacro %}
