{#- On a model: fails on rows where any text column holds an HTML tag or comment (<b>, </p>,
    <br/>, <!-- -->), which Listrak would show as typed. Text such as "<3" or "a < b" passes. -#}
{% test no_html_markup(model) %}
    {{ return(adapter.dispatch('test_no_html_markup', 'listrak_feeds')(model)) }}
{% endtest %}

{% macro default__test_no_html_markup(model) %}
    {%- set names = feeds_text_columns(model) -%}
    select *
    from {{ model }}
    where
    {%- for name in names %}
        {{ 'or ' if not loop.first }}{{ has_html_markup(name) }}
    {%- else %}
        1 = 0
    {%- endfor %}
{% endmacro %}
