{#- Fails on each combination of the columns that more than one row shares (a compound key). -#}
{% test listrak_unique_combination(model, combination_of_columns) %}
    {{ return(adapter.dispatch('test_listrak_unique_combination', 'listrak_feeds')(model, combination_of_columns)) }}
{% endtest %}

{% macro default__test_listrak_unique_combination(model, combination_of_columns) %}
    {%- set columns = quoted_identifiers(combination_of_columns | join(', ')) %}
    select
        {{ columns }},
        count(*) as rows_with_combination
    from {{ model }}
    group by {{ columns }}
    having count(*) > 1
{% endmacro %}
