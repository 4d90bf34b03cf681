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
