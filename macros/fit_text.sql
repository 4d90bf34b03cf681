{#- A text value against its feed maximum. With var('truncate_overlong_text') false (the default)
    the value is passed through and the rejects model quarantines the row; with it true the value
    is cut to max_length characters (and trimmed again, so no trailing space is left). -#}
{% macro fit_text(expression, max_length) -%}
    {%- if var('truncate_overlong_text', false) and max_length -%}
        trim(left({{ expression }}, {{ max_length }}))
    {%- else -%}
        {{ expression }}
    {%- endif -%}
{%- endmacro %}

{#- The Sku of a variant that has none in Shopify: derived from the variant id, so it is stable
    and the products feed and the order items feed agree on it. Null when there is no variant. -#}
{% macro fallback_sku(variant_id) -%}
    case
        when {{ variant_id }} is not null
            then 'shopify-variant-' || cast({{ variant_id }} as {{ dbt.type_string() }})
    end
{%- endmacro %}
