{#- Fails on values longer than `length` characters. The feed marts' max_length tests are also
    the feeds' length limits (listrak_feed_columns reads them). -#}
{% test max_length(model, column_name, length) %}
    {{ return(adapter.dispatch('test_max_length', 'listrak_feeds')(model, column_name, length)) }}
{% endtest %}

{% macro default__test_max_length(model, column_name, length) %}
    select
        {{ column_name }} as failing_value,
        length({{ column_name }}) as value_length
    from {{ model }}
    where length({{ column_name }}) > {{ length }}
{% endmacro %}
