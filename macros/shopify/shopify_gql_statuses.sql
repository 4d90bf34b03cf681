{#- GraphQL's display statuses in the words the REST API lands, so that one mapping
    (shopify_payment_status, shopify_fulfillment_status) gives both APIs the same Listrak status
    codes. displayFinancialStatus is the REST financial_status in capitals (PAID, PARTIALLY_REFUNDED,
    ...); displayFulfillmentStatus has more states than REST's fulfillment_status, and those that
    REST leaves null (UNFULFILLED, OPEN, IN_PROGRESS, ON_HOLD, SCHEDULED, PENDING_FULFILLMENT)
    become null. Portable SQL. -#}
{% macro shopify_gql_financial_status(display_financial_status) -%}
    lower({{ clean_text(display_financial_status) }})
{%- endmacro %}

{% macro shopify_gql_fulfillment_status(display_fulfillment_status) -%}
    case upper({{ clean_text(display_fulfillment_status) }})
        when 'FULFILLED' then 'fulfilled'
        when 'PARTIALLY_FULFILLED' then 'partial'
        when 'RESTOCKED' then 'restocked'
    end
{%- endmacro %}
