{#- The body of a feed mart: the candidate rows that have no entry in the feed's rejects model,
    with exactly the YAML's columns, in its order, cast to the contracted types. Only quarantined
    rows stay out (the rejects model also lists excluded and truncated rows); over-long text of a
    column whose policy is truncate is cut to its maximum (see listrak_feed_columns, fit_text). -#}
{% macro listrak_feed_select(feed_model, candidates, rejects) -%}
    {%- set columns = listrak_feed_columns(feed_model) -%}
with

candidates as (

    select * from {{ candidates }}

),

rejected as (

    select distinct source_id from {{ rejects }}
    where kind = 'quarantined'

),

accepted as (

    select candidates.*
    from candidates
    left join rejected
        on candidates.source_id = rejected.source_id
    where rejected.source_id is null

),

final as (

    select
    {%- for column in columns %}
        cast(
            {%- if column.overlong == 'truncate' %}
            {{ fit_text('accepted.' ~ adapter.quote(column.name), column.max_length) }} as {{ column.data_type }}
            {%- else %}
            accepted.{{ adapter.quote(column.name) }} as {{ column.data_type }}
            {%- endif %}
        ) as {{ adapter.quote(column.name) }}{{ "," if not loop.last }}
    {%- else %}
        1 as placeholder
    {%- endfor %}
    from accepted

)

select * from final
{%- endmacro %}
