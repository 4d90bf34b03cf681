{#- Fails on each combination of the columns that more than one row shares (a compound key). -#}
{% test listrak_unique_combination(model, combination_of_columns) %}
    {{ return(adapter.dispatch('test_listrak_unique_combination', 'listrak_feeds')(model, combination_of_columns)) }}
{% endtest %}

{% macro default__test_listrak_unique_combination(model, combination_of_columns) %}
    select
        {{ combination_of_columns | join(', ') }},
        count(*) as rows_with_combination
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1
{% endmacro %}
