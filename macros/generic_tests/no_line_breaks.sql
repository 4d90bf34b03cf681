{#- On a column: that column. On a model (no column): every text column of the built relation in
    one scan, so a feed with twenty text columns costs one test, and a new column is covered. -#}
{% test no_line_breaks(model, column_name=none) %}
    {{ return(adapter.dispatch('test_no_line_breaks', 'listrak_feeds')(model, column_name)) }}
{% endtest %}

{% macro default__test_no_line_breaks(model, column_name=none) %}
    {%- set names = [column_name] if column_name is not none else feeds_text_columns(model) -%}
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
