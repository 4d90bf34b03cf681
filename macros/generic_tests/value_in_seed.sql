{#- Fails on filled values that are not in `field` of the seed `to` (a lookup table such as
    listrak_status_codes): the allowed values are listed once, in the seed, and `feeds validate`
    reads the same seed file to check a feed file's values. -#}
{% test value_in_seed(model, column_name, to, field) %}
    {{ return(adapter.dispatch('test_value_in_seed', 'listrak_feeds')(model, column_name, to, field)) }}
{% endtest %}

{% macro default__test_value_in_seed(model, column_name, to, field) %}
    select child.{{ column_name }} as failing_value
    {#- In parentheses: `model` may be a subquery with its own alias (get_where_subquery). #}
    from (select * from {{ model }}) as child
    left join {{ to }} as lookup
        on child.{{ column_name }} = lookup.{{ field }}
    where
        child.{{ column_name }} is not null
        and lookup.{{ field }} is null
{% endmacro %}
