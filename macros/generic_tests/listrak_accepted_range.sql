{#- Fails on values outside [min_value, max_value] (either bound may be left out; exclusive
    bounds with inclusive=false). The bounds are SQL, inserted as written. -#}
{% test listrak_accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
    {{ return(adapter.dispatch('test_listrak_accepted_range', 'listrak_feeds')(model, column_name, min_value, max_value, inclusive)) }}
{% endtest %}

{% macro default__test_listrak_accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
    {%- if min_value is none and max_value is none -%}
        {{ exceptions.raise_compiler_error("listrak_accepted_range on " ~ column_name ~ ": give min_value, max_value or both") }}
    {%- endif -%}
    select {{ column_name }} as failing_value
    from {{ model }}
    where
        {%- if min_value is not none %}
        {{ column_name }} {{ '<' if inclusive else '<=' }} {{ min_value }}
        {%- endif %}
        {%- if min_value is not none and max_value is not none %} or{% endif %}
        {%- if max_value is not none %}
        {{ column_name }} {{ '>' if inclusive else '>=' }} {{ max_value }}
        {%- endif %}
{% endmacro %}
