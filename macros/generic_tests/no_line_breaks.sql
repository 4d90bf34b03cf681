{#- On a column: that column. On a model (no column): every text column of the built relation in
    one scan, so a feed with twenty text columns costs one test, and a new column is covered. -#}
{% test no_line_breaks(model, column_name=none) %}
    {{ return(adapter.dispatch('test_no_line_breaks', 'listrak_feeds')(model, column_name)) }}
{% endtest %}

{% macro default__test_no_line_breaks(model, column_name=none) %}
    {%- set names = [] -%}
    {%- if column_name is not none -%}
        {%- do names.append(column_name) -%}
    {%- elif execute -%}
        {%- for column in adapter.get_columns_in_relation(model) if column.is_string() -%}
            {%- do names.append(adapter.quote(column.name)) -%}
        {%- endfor -%}
    {%- endif -%}
    select *
    from {{ model }}
    where
    {%- for name in names %}
        {{ 'or ' if not loop.first }}{{ name }} like '%' || chr(13) || '%'
        or {{ name }} like '%' || chr(10) || '%'
        or {{ name }} like '%' || chr(9) || '%'
    {%- else %}
        1 = 0
    {%- endfor %}
{% endmacro %}
