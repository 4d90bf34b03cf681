{#- Fails on rows where the SQL expression (prefixed by the column, when on a column) is false;
    a null result passes. `feeds validate` runs the same expression over a file. -#}
{% test listrak_expression_is_true(model, expression, column_name=none) %}
    {{ return(adapter.dispatch('test_listrak_expression_is_true', 'listrak_feeds')(model, expression, column_name)) }}
{% endtest %}

{% macro default__test_listrak_expression_is_true(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not ({{ column_name ~ ' ' if column_name }}{{ quoted_identifiers(expression) }})
{% endmacro %}
