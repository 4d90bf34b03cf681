{#- The Sku of a variant that has none in Shopify: derived from the variant id, so it is stable
    and the products feed and the order items feed agree on it. Null when there is no variant. -#}
{% macro shopify_fallback_sku(variant_id) -%}
    case
        when {{ variant_id }} is not null
            then 'shopify-variant-' || cast({{ variant_id }} as {{ dbt.type_string() }})
    end
{%- endmacro %}
