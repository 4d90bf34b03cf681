{#- Fails on filled values that are not a deliverable address (see is_valid_email). -#}
{% test email_format(model, column_name) %}
    {{ return(adapter.dispatch('test_email_format', 'listrak_feeds')(model, column_name)) }}
{% endtest %}

{% macro default__test_email_format(model, column_name) %}
    select {{ column_name }} as failing_value
    from {{ model }}
    where {{ column_name }} is not null
        and not {{ is_valid_email(column_name) }}
{% endmacro %}
