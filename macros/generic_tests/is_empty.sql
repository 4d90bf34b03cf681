{#- Fails on every row: for models that must stay empty. -#}
{% test is_empty(model) %}
    {{ return(adapter.dispatch('test_is_empty', 'listrak_feeds')(model)) }}
{% endtest %}

{% macro default__test_is_empty(model) %}
    select * from {{ model }}
{% endmacro %}
