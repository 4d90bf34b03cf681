{#- The body of a feed mart: the candidate rows that have no entry in the feed's rejects model,
    with exactly the YAML's columns, in its order, cast to the contracted types. Only quarantined
    rows stay out (the rejects model also lists excluded and truncated rows); over-long text of a
    column whose policy is truncate is cut to its maximum (see listrak_feed_columns, fit_text).
    The mart is incremental by `entity` (a column of the candidates, kept as an internal column
    with is_tombstone and synced_watermark, which the runner never exports): an incremental build
    recomputes the entities feeds_mart_affected finds (macros/incremental_marts.sql). -#}
{% macro listrak_feed_select(feed_model, candidates, rejects, entity) -%}
    {%- set columns = listrak_feed_columns(feed_model) -%}
    {%- set affected = feeds_mart_affected(
        entity, candidates, rejects, listrak_feed_meta(feed_model).get('key') or []
    ) -%}
with

candidates as (

    select * from {{ candidates }}
    {%- if is_incremental() %}
    where {{ entity }} in {{ affected.list }}
    {%- endif %}

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

changes as (

    select cast(max(synced_watermark) as {{ dbt.type_timestamp() }}) as synced_at
    from {{ candidates }}

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
        ) as {{ adapter.quote(column.name) }},
    {%- endfor %}
        cast(accepted.{{ entity }} as {{ listrak_column_type(feed_model, entity) }}) as {{ entity }}
    from accepted

)

{{ feeds_incremental_select('final', entity, affected.relation) }}
{%- endmacro %}

{#- The contracted data_type of a column of a model, from its YAML (rendered); `varchar` while
    parsing or when the YAML gives none. -#}
{% macro listrak_column_type(model_name, column_name) -%}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ model_name) if execute else none -%}
    {%- set column = (node.columns.get(column_name) or {}) if node else {} -%}
    {{ return(column.get('data_type') or dbt.type_string()) }}
{%- endmacro %}
