{#- Shopify's order and line states in the conformed layer's words (see macro order_status).
    A value Shopify adds later is not guessed: an unknown financial_status becomes 'unknown' (sent
    as 11 Unknown), an unknown fulfillment_status null (nothing shipped). Portable SQL. -#}
{% macro shopify_payment_status(financial_status) -%}
    case
        when {{ financial_status }} is null then null
        when {{ financial_status }} in ('paid', 'partially_paid', 'partially_refunded') then 'paid'
        when {{ financial_status }} in ('pending', 'authorized') then 'pending'
        when {{ financial_status }} in ('refunded', 'voided') then {{ financial_status }}
        else 'unknown'
    end
{%- endmacro %}

{% macro shopify_fulfillment_status(fulfillment_status) -%}
    case
        when {{ fulfillment_status }} in ('fulfilled', 'partial', 'restocked') then {{ fulfillment_status }}
    end
{%- endmacro %}
