{#- A text value cut to its feed maximum (and trimmed again, so no trailing space is left).
    Only for columns whose over-length policy is truncate (see listrak_feed_columns); the rejects
    model counts every cut value (kind truncated). -#}
{% macro fit_text(expression, max_length) -%}
    {%- if max_length -%}
        trim(left({{ expression }}, {{ max_length }}))
    {%- else -%}
        {{ expression }}
    {%- endif -%}
{%- endmacro %}
