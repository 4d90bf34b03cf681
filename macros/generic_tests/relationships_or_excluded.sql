{#- dbt's relationships test, except that a value the parent's rejects model lists as excluded by a
    rule (e.g. the SKU of a deleted or draft product, which old orders still name) is known too. -#}
{% test relationships_or_excluded(model, column_name, to, field, excluded_in) %}
    {{ return(adapter.dispatch('test_relationships_or_excluded', 'listrak_feeds')(model, column_name, to, field, excluded_in)) }}
{% endtest %}

{% macro default__test_relationships_or_excluded(model, column_name, to, field, excluded_in) %}
    {%- set field = quoted_identifiers(field) %}
    select child.{{ column_name }} as failing_value
    from {{ model }} as child
    left join {{ to }} as parent
        on child.{{ column_name }} = parent.{{ field }}
    left join (
        select distinct {{ field }} from {{ excluded_in }}
        where kind = 'excluded'
    ) as excluded
        on child.{{ column_name }} = excluded.{{ field }}
    where
        child.{{ column_name }} is not null
        and parent.{{ field }} is null
        and excluded.{{ field }} is null
{% endmacro %}
